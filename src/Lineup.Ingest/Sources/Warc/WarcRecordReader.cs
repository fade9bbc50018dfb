using System.Buffers;
using System.Text;

namespace Lineup.Ingest.Sources.Warc;

/// <summary>The named fields of one WARC record header that ingest uses (others are passed over).</summary>
internal sealed class WarcRecordHeader
{
    /// <summary>Decompressed offset of the record's version line.</summary>
    public required long Offset { get; init; }

    /// <summary>Where the record lies in the file (see <see cref="WarcInput.Locate"/>): <c>1234</c> or <c>1234+56</c>.</summary>
    public required string Location { get; init; }

    /// <summary><c>file.warc.gz@location</c>, the record's item name.</summary>
    public string Name => $"{FileName}@{Location}";

    public required string FileName { get; init; }

    /// <summary>1-based position of the record in the file, counting damaged places too.</summary>
    public required int Ordinal { get; init; }

    public string? Type { get; set; }

    public string? TargetUri { get; set; }

    public string? Date { get; set; }

    public string? RecordId { get; set; }

    public string? ContentType { get; set; }

    /// <summary>WARC-Truncated: the crawler cut the block short (length, time, disconnect, unspecified).</summary>
    public string? Truncated { get; set; }

    /// <summary>The block length, or -1 when the header has none that parses.</summary>
    public long ContentLength { get; set; } = -1;

    /// <summary>Set when this is not a usable record but a damaged place in the file; the reason names it.</summary>
    public string? Problem { get; set; }

    /// <summary>The target URI without the angle brackets that some WARC/1.0 writers put around it.</summary>
    public string? Url => TargetUri is { Length: > 2 } t && t[0] == '<' && t[^1] == '>' ? t[1..^1] : TargetUri;
}

/// <summary>Thrown by block reads when the file ends inside a record's block.</summary>
internal sealed class WarcBlockCutException() : Exception("the WARC data ends inside this record's block");

/// <summary>
/// Reads WARC records (ISO 28500, WARC/1.0 and 1.1) one after another from a <see cref="WarcInput"/>: the
/// version line, the named fields up to the blank line, then a block of exactly Content-Length bytes,
/// then CRLF CRLF. The block is offered piecewise (peek, read, or left for <see cref="FinishAsync"/> to
/// pass over), so a record of any size goes through one pooled buffer. Damage is reported, not thrown: a
/// header that cannot be used comes back as a header with a <see cref="WarcRecordHeader.Problem"/>, a
/// block not followed by CRLF CRLF and the next version line as a problem from <see cref="FinishAsync"/>,
/// and in both cases reading resumes at the next line that starts with <c>WARC/</c> and a digit.
/// </summary>
/// <remarks>
/// A damaged block may be one whose Content-Length is too large, so the records after it lie inside the
/// bytes it claimed. Reading therefore goes back and looks for the next record from the start of the
/// damaged block, not from its declared end: a plain file seeks back; a gzip file written one member per
/// record resumes at the member after the record's own (a record never spans members there); other gzip
/// data, which cannot be gone back over, keeps the block's bytes while it is read, up to half the per-item
/// budget. Going back is refused once the records it made to be read a second time add up to more than the
/// file read so far (plus a few MiB), so a file of bogus lengths that each claim the rest of it cannot make
/// reading quadratic.
/// </remarks>
internal sealed class WarcRecordReader : IAsyncDisposable
{
    public const int MaxHeaderBytes = 1024 * 1024;
    private const int InitialBufferSize = 64 * 1024;

    /// <summary>Bytes that going back may cover twice beyond the length read so far, so that small files always recover.</summary>
    private const long OverlapAllowance = 4 * 1024 * 1024;

    private readonly WarcInput _input;
    private readonly string _fileName;
    private readonly long _keepSpan;
    private byte[] _buffer = ArrayPool<byte>.Shared.Rent(InitialBufferSize);
    private int _pos;
    private int _len;
    private long _inputOffset;
    private bool _inputEnded;
    private long _blockRemaining;
    private long _blockLength;
    private int _ordinal;
    private State _state = State.Boundary;
    private WarcRecordHeader? _damagedStart;

    private long _blockStart;
    private bool _keeping;
    private bool _recordStartsMember;
    private bool _lastStartedMember;
    private bool _memberPerRecord;
    private long _farthest;
    private long _overlap;

    /// <param name="input">The file's WARC data.</param>
    /// <param name="fileName">The name items are called by.</param>
    /// <param name="itemBudget">
    /// The per-item byte budget. Gzip data keeps the first half of it of each block, so that a damaged
    /// block can be searched again: the buffer, which doubles as it fills, then stays within the budget.
    /// </param>
    public WarcRecordReader(WarcInput input, string fileName, long itemBudget)
    {
        _input = input;
        _fileName = fileName;
        _keepSpan = Math.Clamp(itemBudget, 0, Array.MaxLength) / 2;
    }

    private enum State
    {
        Boundary,
        InBlock,
        Resync,
        Ended,
    }

    /// <summary>Decompressed offset of the next unread byte.</summary>
    public long Position => _inputOffset - (_len - _pos);

    /// <summary>Bytes of the current record's block not yet read.</summary>
    public long BlockRemaining => _blockRemaining;

    /// <summary>
    /// Checks that the data starts with a WARC version line. False for an empty file; throws
    /// <see cref="IngestSourceException"/> for anything that is not WARC.
    /// </summary>
    public async ValueTask<bool> StartAsync(string path, CancellationToken ct)
    {
        await EnsureAsync(5, ct).ConfigureAwait(false);
        if (_len == _pos && _input.Break is { Truncated: false } damage)
        {
            // A damaged first gzip member (a warcinfo record, usually) need not cost the members after it.
            var location = _input.Locate(0);
            while (_len == _pos && _input.Break is not null && await _input.ResumeAsync(ct).ConfigureAwait(false))
            {
                _inputEnded = false;
                await EnsureAsync(5, ct).ConfigureAwait(false);
            }

            if (_len - _pos >= 5 && _buffer.AsSpan(_pos).StartsWith("WARC/"u8))
            {
                _ordinal++;
                _damagedStart = new WarcRecordHeader
                {
                    Offset = 0,
                    FileName = _fileName,
                    Location = location,
                    Ordinal = _ordinal,
                    Problem = $"{damage.Reason}; the data up to the next gzip member is skipped",
                };
                return true;
            }

            throw new IngestSourceException($"{path}: no WARC record can be read: {damage.Reason}.");
        }

        var head = _buffer.AsSpan(_pos, _len - _pos);
        if (head.IsEmpty && _input.Break is null)
        {
            _state = State.Ended;
            return false;
        }

        if (head.Length >= 5 && head.StartsWith("WARC/"u8))
        {
            return true;
        }

        if (_input.Break is not null || (head.Length < 5 && "WARC/"u8.StartsWith(head)))
        {
            throw new IngestSourceException($"{path}: no WARC record can be read: {_input.DescribeEnd()}.");
        }

        var preview = Encoding.Latin1.GetString(head[..Math.Min(head.Length, 16)]);
        var printable = new string([.. preview.Select(c => c is >= ' ' and <= '~' ? c : '.')]);
        throw new IngestSourceException($"{path}: not a WARC file (it starts with \"{printable}\", not a WARC/1.x version line).");
    }

    /// <summary>The next record's header, or null at the end of the file.</summary>
    public async ValueTask<WarcRecordHeader?> NextAsync(CancellationToken ct)
    {
        if (_state == State.InBlock || _state == State.Resync)
        {
            throw new InvalidOperationException("FinishAsync must be called after each record.");
        }

        _keeping = false;

        if (_damagedStart is { } damagedStart)
        {
            _damagedStart = null;
            return damagedStart;
        }

        if (_state == State.Ended || (!await EnsureAsync(1, ct).ConfigureAwait(false) && _input.Break is null))
        {
            _state = State.Ended;
            return null;
        }

        var ordinal = ++_ordinal;
        var header = new WarcRecordHeader { Offset = Position, FileName = _fileName, Location = _input.Locate(Position), Ordinal = ordinal };
        _recordStartsMember = _input.LocatedAtMemberStart;
        _memberPerRecord = _recordStartsMember && _lastStartedMember;
        _lastStartedMember = _recordStartsMember;
        if (_len == _pos)
        {
            // The input broke exactly between two records.
            return Damaged(header, null);
        }

        var searched = 0;
        int end;
        while ((end = FindHeaderEnd(_buffer.AsSpan(_pos, _len - _pos), ref searched)) < 0)
        {
            if (_len - _pos >= MaxHeaderBytes)
            {
                return Problem(header, $"record {ordinal}: no blank line ends its WARC header within {MaxHeaderBytes} bytes");
            }

            if (!await FillAsync(ct).ConfigureAwait(false))
            {
                return Damaged(header, $"the WARC header of record {ordinal}");
            }
        }

        var contentLength = ParseFields(_buffer.AsSpan(_pos, end), header);
        _pos += end;
        if (contentLength is null)
        {
            return Problem(header, $"record {ordinal} has no Content-Length field, so the end of its block is unknown");
        }

        if (!long.TryParse(contentLength, System.Globalization.NumberStyles.None, null, out var length))
        {
            return Problem(header, $"record {ordinal} has an invalid Content-Length \"{Shorten(contentLength)}\", so the end of its block is unknown");
        }

        header.ContentLength = length;
        _blockLength = _blockRemaining = length;
        _blockStart = Position;

        // Gzip data cannot be gone back over, so keep the block in case it proves damaged; not when records
        // have their own members, where the next member is where the next record starts.
        _keeping = !_input.IsSeekable && !_memberPerRecord;
        _state = State.InBlock;
        return header;
    }

    /// <summary>
    /// Up to <paramref name="count"/> bytes of the block from the read position, without consuming them
    /// (fewer when the block is shorter or the file ends). Valid until the next call on this reader.
    /// </summary>
    public async ValueTask<ReadOnlyMemory<byte>> PeekBlockAsync(int count, CancellationToken ct)
    {
        var want = (int)Math.Min(count, _blockRemaining);
        await EnsureAsync(want, ct).ConfigureAwait(false);
        return _buffer.AsMemory(_pos, Math.Min(want, _len - _pos));
    }

    /// <summary>Consumes <paramref name="count"/> bytes of the block that a peek returned.</summary>
    public void ConsumeBlock(int count)
    {
        if (count > _len - _pos || count > _blockRemaining)
        {
            throw new ArgumentOutOfRangeException(nameof(count));
        }

        _pos += count;
        _blockRemaining -= count;
    }

    /// <summary>Reads block bytes; 0 at the end of the block; throws <see cref="WarcBlockCutException"/> when the file ends first.</summary>
    public async ValueTask<int> ReadBlockAsync(Memory<byte> destination, CancellationToken ct)
    {
        if (_blockRemaining == 0 || destination.IsEmpty)
        {
            return 0;
        }

        if (PastOwnMember)
        {
            // Each record has its own member here, so what follows belongs to the next record: reading on
            // would only cost time (FinishAsync reports the damage).
            throw new WarcBlockCutException();
        }

        if (_pos == _len)
        {
            if (destination.Length >= _buffer.Length / 2 && !_keeping)
            {
                // Large reads go straight into the caller's memory instead of through the buffer.
                _pos = _len = 0;
                var direct = await ReadInputAsync(destination[..(int)Math.Min(destination.Length, _blockRemaining)], ct).ConfigureAwait(false);
                if (direct == 0)
                {
                    throw new WarcBlockCutException();
                }

                _blockRemaining -= direct;
                return direct;
            }

            if (!await FillAsync(ct).ConfigureAwait(false))
            {
                throw new WarcBlockCutException();
            }
        }

        var count = (int)Math.Min(Math.Min(destination.Length, _len - _pos), _blockRemaining);
        _buffer.AsSpan(_pos, count).CopyTo(destination.Span);
        _pos += count;
        _blockRemaining -= count;
        return count;
    }

    /// <summary>
    /// Ends the current record: passes over the rest of its block and checks the CRLF CRLF and the next
    /// version line. Returns null when the record was sound, else why it was not (the reader has then
    /// moved on to the next record or the end).
    /// </summary>
    public async ValueTask<string?> FinishAsync(WarcRecordHeader header, CancellationToken ct)
    {
        switch (_state)
        {
            case State.Resync:
                await ResyncAsync(atLineStart: false, ct).ConfigureAwait(false);
                return null;
            case State.InBlock:
                break;
            default:
                return null;
        }

        var what = $"record {header.Ordinal}";
        var runsPast = $"{what}: its {_blockLength}-byte block runs past the end of its gzip member (its Content-Length is wrong or the record is damaged)";
        string problem;
        var cut = false;
        var endsAtBlock = false;
        if (!await SkipBlockAsync(ct).ConfigureAwait(false))
        {
            problem = $"{what}: {_blockRemaining} of its {_blockLength}-byte block are missing";
            cut = true;
        }
        else if (!await EnsureAsync(4, ct).ConfigureAwait(false) && _input.Break is not null)
        {
            problem = $"{what}: its block is complete, but not the CRLF CRLF after it";
            cut = true;
        }
        else if (_memberPerRecord && NextMemberStart(trailer: 0) is not null)
        {
            // Even should the bytes after it look right: a block read into the next member was cut short
            // there (ReadBlockAsync), so this verdict must not depend on whether it was read.
            problem = runsPast;
        }
        else if (_len == _pos)
        {
            problem = $"{what}: the file ends right after its {_blockLength}-byte block, without the CRLF CRLF that ends a record (Content-Length is too large, or the file is truncated)";
            endsAtBlock = true;
        }
        else if (!_buffer.AsSpan(_pos, _len - _pos).StartsWith("\r\n\r\n"u8))
        {
            problem = $"{what}: the bytes after its {_blockLength}-byte block are not CRLF CRLF (its Content-Length is wrong or the record is damaged)";
        }
        else
        {
            _pos += 4;

            // Tolerate extra blank lines between records; anything else must be the next version line.
            while (await EnsureAsync(1, ct).ConfigureAwait(false) && _buffer[_pos] is (byte)'\r' or (byte)'\n')
            {
                _pos++;
            }

            await EnsureAsync(6, ct).ConfigureAwait(false);
            if (_len == _pos || IsVersionLine(_buffer.AsSpan(_pos, _len - _pos)))
            {
                _keeping = false;
                _state = State.Boundary;
                return null;
            }

            problem = $"{what}: its {_blockLength}-byte block and CRLF CRLF are not followed by a WARC version line (its Content-Length is wrong or the record is damaged)";
        }

        _blockRemaining = 0;
        var damage = _input.Break;
        var end = _input.DescribeEnd();
        var (next, pastMember, unsearched) = await RecoverAsync(ct).ConfigureAwait(false);
        if (pastMember)
        {
            problem = runsPast;
        }
        else if (cut && damage is { Truncated: false })
        {
            problem = $"{problem}: {damage.Reason}";
        }
        else if (cut && next is null && unsearched is null)
        {
            return $"{problem}: the file is truncated ({end}); nothing follows";
        }
        else if (cut)
        {
            problem = $"{problem}: {end} (its Content-Length is too large, or the file is truncated)";
        }

        var lost = unsearched is null ? "" : $" ({unsearched}, so any record inside that block is lost)";
        if (next is null)
        {
            return endsAtBlock && unsearched is null ? problem : $"{problem}; no further record follows{lost}";
        }

        var after = unsearched is null ? "" : " after its declared block";
        return $"{problem}; reading resumes at the next record{after}, {_fileName}@{next}{lost}";
    }

    public async ValueTask DisposeAsync()
    {
        if (_buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = [];
        }

        await _input.DisposeAsync().ConfigureAwait(false);
    }

    private WarcRecordHeader Problem(WarcRecordHeader header, string reason)
    {
        header.Problem = reason;
        _state = State.Resync;
        return header;
    }

    /// <summary>
    /// A place where the data ran out (or a gzip member is damaged): inside <paramref name="what"/>, or
    /// between two records when that is null.
    /// </summary>
    private WarcRecordHeader Damaged(WarcRecordHeader header, string? what)
    {
        _state = State.Resync;
        header.Problem = (_input.Break, what) switch
        {
            ({ Truncated: false } damage, null) => $"{damage.Reason}; the data up to the next gzip member is skipped",
            ({ Truncated: false } damage, _) => $"{damage.Reason}; {what} is lost",
            (_, null) => $"the file is truncated ({_input.DescribeEnd()}) after its last complete record",
            _ => $"the file is truncated ({_input.DescribeEnd()}): {what} is incomplete and nothing follows",
        };
        return header;
    }

    /// <summary>
    /// True when records have their own gzip members and reading has gone past the end of this record's
    /// member while still inside the block its Content-Length claims: the rest is the next record's.
    /// </summary>
    private bool PastOwnMember =>
        _memberPerRecord && NextMemberStart(trailer: 0) is { } member && Position >= member;

    /// <summary>
    /// The start of the member after the record's own, when the record starts a member and its declared
    /// block, with <paramref name="trailer"/> bytes after it, runs into that one (which reading has reached).
    /// </summary>
    private long? NextMemberStart(int trailer) =>
        _recordStartsMember && _input.NextMemberStart is { } start && start > _blockStart && start - _blockStart < _blockLength + trailer
            ? start
            : null;

    /// <summary>
    /// After a damaged block, goes to where the next record is looked for: the member after the record's own
    /// when each record has its own gzip member and the block claimed bytes past it, else the block's start
    /// (so records that a too-large Content-Length swallowed are found), else where reading stands.
    /// Returns the next record's location (null when none follows), whether the block ran past its member,
    /// and why the block could not be searched again when it could not.
    /// </summary>
    /// <remarks>
    /// Both passes over the file must find the same records, so every choice here rests on record offsets
    /// and the data, never on how much happened to be buffered: the record's own member is always reachable
    /// (in the buffer, or by seeking to a member start); the block's start in a plain file by seeking; in
    /// gzip only when the block was kept, which holds while no more than the budget has been read of it.
    /// </remarks>
    private async ValueTask<(string? Next, bool PastMember, string? Unsearched)> RecoverAsync(CancellationToken ct)
    {
        var failedAt = Position;
        var kept = _keeping && failedAt - _blockStart <= _keepSpan;
        _keeping = false;
        var member = NextMemberStart(trailer: 4);
        if (_memberPerRecord)
        {
            if (member is { } perRecord && await MoveToAsync(perRecord, ct).ConfigureAwait(false))
            {
                // Reading stopped at that member (see PastOwnMember), so this went back over next to nothing.
                return (await ResumeAtMemberAsync(ct).ConfigureAwait(false), true, null);
            }

            // The declared block ends inside the record's own member (or the data ends first): what it
            // claimed holds no other record, so looking on from here loses nothing.
            return (await ResyncAsync(atLineStart: false, ct).ConfigureAwait(false), false, null);
        }

        string why;
        if (_overlap > _farthest + OverlapAllowance)
        {
            why = "going back over damaged records has already read more of this file a second time than its length";
        }
        else if ((kept || _input.IsSeekable) && await MoveToAsync(_blockStart, ct).ConfigureAwait(false))
        {
            // The search starts on the block's first byte, so a version line must follow a line feed in it:
            // the damaged record's own version line is never found again.
            _farthest = Math.Max(_farthest, failedAt);
            var next = await ResyncAsync(atLineStart: false, ct).ConfigureAwait(false);
            if (next is not null)
            {
                // What lies between the next record and where reading had got to is read a second time.
                _overlap += Math.Max(0, failedAt - Position);
            }

            return (next, false, null);
        }
        else
        {
            why = $"its block is longer than the {_keepSpan:N0} bytes of gzip data kept to search again (half the item budget)";
        }

        if (member is { } after && await MoveToAsync(after, ct).ConfigureAwait(false))
        {
            return (await ResumeAtMemberAsync(ct).ConfigureAwait(false), true, null);
        }

        return (await ResyncAsync(atLineStart: false, ct).ConfigureAwait(false), false, why);
    }

    /// <summary>At a gzip member start: the next record, or the damage that stops the member being read.</summary>
    private async ValueTask<string?> ResumeAtMemberAsync(CancellationToken ct)
    {
        var at = Position;
        await EnsureAsync(6, ct).ConfigureAwait(false);
        if (IsVersionLine(_buffer.AsSpan(_pos, _len - _pos)) || (_len - _pos < 6 && _input.Break is not null))
        {
            // A member that breaks this early is reported as a damaged place by NextAsync.
            _state = State.Boundary;
            return _input.Locate(at);
        }

        return await ResyncAsync(atLineStart: true, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Moves the read position to decompressed <paramref name="offset"/>: within the buffer when it still
    /// holds that byte, else by seeking the input. False when neither can.
    /// </summary>
    private async ValueTask<bool> MoveToAsync(long offset, CancellationToken ct)
    {
        var bufferOffset = _inputOffset - _len;
        if (offset >= bufferOffset && offset <= _inputOffset)
        {
            _pos = (int)(offset - bufferOffset);
            return true;
        }

        if (!await _input.SeekAsync(offset, ct).ConfigureAwait(false))
        {
            return false;
        }

        _pos = _len = 0;
        _inputOffset = offset;
        _inputEnded = false;
        return true;
    }

    /// <summary>
    /// Moves to the next line that starts with <c>WARC/</c> and a digit, resuming a broken input if it
    /// can; returns the location of that line, or null (and the reader has ended) when there is none.
    /// With <paramref name="atLineStart"/> the read position itself counts as the start of a line.
    /// </summary>
    private async ValueTask<string?> ResyncAsync(bool atLineStart, CancellationToken ct)
    {
        _blockRemaining = 0;
        _keeping = false;
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            var span = _buffer.AsSpan(_pos, _len - _pos);
            var found = atLineStart && IsVersionLine(span) ? 0 : -1;
            if (found < 0)
            {
                var search = span;
                var skipped = 0;
                while (true)
                {
                    var hit = search.IndexOf("\nWARC/"u8);
                    if (hit < 0 || hit + 6 >= search.Length)
                    {
                        break;
                    }

                    if (char.IsAsciiDigit((char)search[hit + 6]))
                    {
                        found = skipped + hit + 1;
                        break;
                    }

                    skipped += hit + 1;
                    search = search[(hit + 1)..];
                }
            }

            if (found >= 0)
            {
                _pos += found;
                _state = State.Boundary;
                return _input.Locate(Position);
            }

            if (!atLineStart || _len - _pos >= 6)
            {
                // Keep the last few bytes, where a version line may start across two reads.
                _pos = _len - Math.Min(_len - _pos, 6);
                atLineStart = false;
            }

            if (!await FillAsync(ct).ConfigureAwait(false))
            {
                if (_input.Break is { Truncated: false } && await _input.ResumeAsync(ct).ConfigureAwait(false))
                {
                    // The bytes before the damage are no part of the next member: look from its start.
                    _pos = _len;
                    _inputEnded = false;
                    atLineStart = true;
                    continue;
                }

                _pos = _len;
                _state = State.Ended;
                return null;
            }
        }
    }

    private async ValueTask<bool> SkipBlockAsync(CancellationToken ct)
    {
        while (_blockRemaining > 0)
        {
            if (_pos < _len)
            {
                var step = (int)Math.Min(_len - _pos, _blockRemaining);
                _pos += step;
                _blockRemaining -= step;
                continue;
            }

            if (PastOwnMember)
            {
                return false;
            }

            var passed = _input.Skip(_blockRemaining);
            if (passed >= 0)
            {
                _pos = _len = 0;
                _inputOffset += passed;
                _blockRemaining -= passed;
                if (_blockRemaining > 0)
                {
                    _inputEnded = true;
                    return false;
                }

                continue;
            }

            if (!await FillAsync(ct).ConfigureAwait(false))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Makes <paramref name="count"/> bytes available from the read position; false when the data ends first.</summary>
    private async ValueTask<bool> EnsureAsync(int count, CancellationToken ct)
    {
        while (_len - _pos < count)
        {
            if (!await FillAsync(ct).ConfigureAwait(false))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// Reads more input after the unread bytes (and the kept block bytes), first moving them to the front,
    /// or doubling the buffer when they fill it. False when the input has ended.
    /// </summary>
    /// <remarks>The buffer always holds the bytes just before <c>_inputOffset</c>: <c>_buffer[i]</c> is the byte at <c>_inputOffset - _len + i</c>.</remarks>
    private async ValueTask<bool> FillAsync(CancellationToken ct)
    {
        if (_inputEnded)
        {
            return false;
        }

        if (_keeping && Position - _blockStart > _keepSpan)
        {
            // The block is longer than what is kept: it will not be searched again, so stop keeping it.
            _keeping = false;
        }

        var keep = _keeping ? (int)(_blockStart - (_inputOffset - _len)) : _pos;
        if (keep == _len)
        {
            _pos = _len = 0;
        }
        else if (_len == _buffer.Length)
        {
            var kept = _len - keep;
            if (keep > 0)
            {
                _buffer.AsSpan(keep, kept).CopyTo(_buffer);
            }
            else
            {
                var larger = ArrayPool<byte>.Shared.Rent(_buffer.Length * 2);
                _buffer.AsSpan(0, kept).CopyTo(larger);
                ArrayPool<byte>.Shared.Return(_buffer);
                _buffer = larger;
            }

            _pos -= keep;
            _len = kept;
        }

        var read = await ReadInputAsync(_buffer.AsMemory(_len), ct).ConfigureAwait(false);
        if (read == 0)
        {
            return false;
        }

        _len += read;
        return true;
    }

    private async ValueTask<int> ReadInputAsync(Memory<byte> destination, CancellationToken ct)
    {
        var read = await _input.ReadAsync(destination, ct).ConfigureAwait(false);
        if (read == 0)
        {
            _inputEnded = true;
        }

        _inputOffset += read;
        return read;
    }

    private static bool IsVersionLine(ReadOnlySpan<byte> span) =>
        span.Length >= 6 && span.StartsWith("WARC/"u8) && char.IsAsciiDigit((char)span[5]);

    /// <summary>Index just past the blank line that ends a header (CRLF CRLF, or bare LF LF from lax writers); -1 when not yet seen.</summary>
    private static int FindHeaderEnd(ReadOnlySpan<byte> span, ref int searched)
    {
        var from = Math.Max(0, searched - 3);
        var rest = span[from..];
        var crlf = rest.IndexOf("\r\n\r\n"u8);
        var lf = rest.IndexOf("\n\n"u8);
        searched = span.Length;
        if (crlf >= 0 && (lf < 0 || crlf + 2 <= lf))
        {
            return from + crlf + 4;
        }

        return lf >= 0 ? from + lf + 2 : -1;
    }

    /// <summary>Reads the fields ingest needs into <paramref name="header"/>; returns the raw Content-Length value.</summary>
    private static string? ParseFields(ReadOnlySpan<byte> block, WarcRecordHeader header)
    {
        string? contentLength = null;
        var last = Field.None;
        var first = true;
        foreach (var range in block.Split((byte)'\n'))
        {
            var line = block[range];
            if (line.EndsWith("\r"u8))
            {
                line = line[..^1];
            }

            if (first)
            {
                first = false;
                continue;
            }

            if (line.IsEmpty)
            {
                break;
            }

            if (line[0] is (byte)' ' or (byte)'\t')
            {
                // A continuation line extends the previous field's value.
                var more = Encoding.UTF8.GetString(line.Trim(" \t"u8));
                switch (last)
                {
                    case Field.TargetUri:
                        header.TargetUri += more;
                        break;
                    case Field.ContentType:
                        header.ContentType += " " + more;
                        break;
                    case Field.ContentLength:
                        contentLength += more;
                        break;
                    default:
                        break;
                }

                continue;
            }

            var colon = line.IndexOf((byte)':');
            if (colon <= 0)
            {
                last = Field.None;
                continue;
            }

            var fieldName = line[..colon].Trim(" \t"u8);
            var value = line[(colon + 1)..].Trim(" \t"u8);
            last = Identify(fieldName);
            switch (last)
            {
                case Field.Type:
                    header.Type ??= Encoding.UTF8.GetString(value);
                    break;
                case Field.TargetUri:
                    header.TargetUri ??= Encoding.UTF8.GetString(value);
                    break;
                case Field.Date:
                    header.Date ??= Encoding.UTF8.GetString(value);
                    break;
                case Field.RecordId:
                    header.RecordId ??= Encoding.UTF8.GetString(value);
                    break;
                case Field.ContentType:
                    header.ContentType ??= Encoding.UTF8.GetString(value);
                    break;
                case Field.Truncated:
                    header.Truncated ??= Encoding.UTF8.GetString(value);
                    break;
                case Field.ContentLength:
                    contentLength ??= Encoding.UTF8.GetString(value);
                    break;
                default:
                    break;
            }
        }

        return contentLength;
    }

    private static Field Identify(ReadOnlySpan<byte> name) => name switch
    {
        _ when Ascii.EqualsIgnoreCase(name, "WARC-Type"u8) => Field.Type,
        _ when Ascii.EqualsIgnoreCase(name, "WARC-Target-URI"u8) => Field.TargetUri,
        _ when Ascii.EqualsIgnoreCase(name, "WARC-Date"u8) => Field.Date,
        _ when Ascii.EqualsIgnoreCase(name, "WARC-Record-ID"u8) => Field.RecordId,
        _ when Ascii.EqualsIgnoreCase(name, "Content-Type"u8) => Field.ContentType,
        _ when Ascii.EqualsIgnoreCase(name, "Content-Length"u8) => Field.ContentLength,
        _ when Ascii.EqualsIgnoreCase(name, "WARC-Truncated"u8) => Field.Truncated,
        _ => Field.None,
    };

    private static string Shorten(string value) => value.Length <= 40 ? value : value[..40] + "…";

    private enum Field
    {
        None,
        Type,
        TargetUri,
        Date,
        RecordId,
        ContentType,
        ContentLength,
        Truncated,
    }
}
