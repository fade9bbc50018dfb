using System.Buffers;
using System.Buffers.Binary;
using System.IO.Compression;

namespace Lineup.Ingest.Sources.Warc;

/// <summary>
/// A gzip WARC read member by member (RFC 1952), whether it holds one member per record (wget, Heritrix,
/// Common Crawl) or one member for the whole file.
/// </summary>
/// <remarks>
/// .NET's <see cref="GZipStream"/> does not fit, as measured on .NET 10: it reads concatenated members as
/// one stream (so the member offset of a record, the offset CDX indexes and <c>warcio extract</c> use, is
/// lost), it returns a silent end of stream on a file truncated anywhere (inside the deflate data, the
/// trailer or the next member's header), it ignores bytes after a member that are not gzip, and it
/// reports a CRC mismatch as "unsupported compression method". So the gzip framing is read here and only
/// the deflate data goes through a raw <see cref="DeflateStream"/>, fed from a buffer this class owns.
/// A raw DeflateStream reads ahead and does not say where its data ended; the end lies in the last two
/// chunks it was fed (zlib asks for input only once it has used all it holds), so the 8-byte trailer is
/// found there as the place where CRC-32 and length of the member's output match. Each member's CRC-32
/// is therefore checked too.
/// </remarks>
internal sealed class GzipWarcInput : WarcInput
{
    private const int BufferSize = 256 * 1024;
    private const int MaxHeaderFieldBytes = 1024 * 1024;
    private const int MaxTrackedMembers = 4096;

    private readonly DeflateFeed _feed;
    private readonly Queue<(long Output, long Member)> _members = new();
    private (long Output, long Member) _located;
    private long _lastLocated = -1;
    private bool _locatedAtMemberStart;

    // Kept apart from _members, which drops old entries: a record whose Content-Length swallows thousands of
    // members must still find the member right after its own.
    private (long Output, long Member)? _following;
    private byte[] _buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
    private int _pos;
    private int _len;
    private long _bufferFileOffset;
    private bool _fileEnded;
    private bool _ended;

    private DeflateStream? _deflate;
    private long _memberStart;
    private long _memberOutput;
    private readonly System.IO.Hashing.Crc32 _crc = new();
    private long _delivered;
    private int _lastChunkStart = -1;
    private int _previousChunkStart = -1;
    private bool _deflateHitEnd;
    private long _damagedAt;

    public GzipWarcInput(FileStream file)
        : base(file)
    {
        _feed = new DeflateFeed(this);
    }

    private long Offset => _bufferFileOffset + _pos;

    public override async ValueTask<int> ReadAsync(Memory<byte> destination, CancellationToken ct)
    {
        while (true)
        {
            if (_ended || Break is not null || destination.IsEmpty)
            {
                return 0;
            }

            if (_deflate is null && !await StartMemberAsync(ct).ConfigureAwait(false))
            {
                return 0;
            }

            int read;
            try
            {
                read = await _deflate!.ReadAsync(destination, ct).ConfigureAwait(false);
            }
            catch (InvalidDataException)
            {
                // zlib's own message for this is "unsupported compression method", whatever the damage.
                Damaged(_memberStart, $"the gzip member at byte {_memberStart} has corrupt deflate data");
                return 0;
            }

            if (read > 0)
            {
                _crc.Append(destination.Span[..read]);
                _memberOutput += read;
                _delivered += read;
                return read;
            }

            if (!await EndMemberAsync(ct).ConfigureAwait(false))
            {
                return 0;
            }
        }
    }

    public override bool LocatedAtMemberStart => _locatedAtMemberStart;

    public override long? NextMemberStart => _following?.Output;

    public override string Locate(long offset)
    {
        while (_members.TryPeek(out var next) && next.Output <= offset)
        {
            _located = _members.Dequeue();
        }

        _lastLocated = offset;
        _locatedAtMemberStart = _located.Output == offset;
        _following = _members.TryPeek(out var after) ? after : null;
        return _located.Output == offset ? $"{_located.Member}" : $"{_located.Member}+{offset - _located.Output}";
    }

    public override string DescribeEnd() =>
        Break?.Reason ?? $"the gzip data ends cleanly at byte {FileLength} (after a complete member), inside a record";

    public override async ValueTask<bool> ResumeAsync(CancellationToken ct)
    {
        if (Break is null || Break.Truncated)
        {
            return false;
        }

        // Look for the next member header after the damaged one: gzip magic, deflate method, no reserved flags.
        await DropDeflateAsync().ConfigureAwait(false);
        File.Position = Math.Min(_damagedAt + 1, FileLength);
        _bufferFileOffset = File.Position;
        _pos = _len = 0;
        _fileEnded = false;
        Break = null;
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            var found = _buffer.AsSpan(_pos, _len - _pos).IndexOf([(byte)0x1F, (byte)0x8B, (byte)0x08]);
            if (found >= 0)
            {
                _pos += found;
                if (!await EnsureAsync(4, ct).ConfigureAwait(false))
                {
                    break;
                }

                if ((_buffer[_pos + 3] & 0xE0) == 0)
                {
                    return true;
                }

                _pos++;
                continue;
            }

            // Keep two bytes: a magic split across two reads.
            _pos = Math.Max(_pos, _len - 2);
            if (!await FillAsync(ct).ConfigureAwait(false))
            {
                break;
            }
        }

        _ended = true;
        return false;
    }

    public override async ValueTask<bool> SeekAsync(long offset, CancellationToken ct)
    {
        if (_following is not { } member || member.Output != offset)
        {
            return false;
        }

        await DropDeflateAsync().ConfigureAwait(false);
        File.Position = member.Member;
        _bufferFileOffset = member.Member;
        _pos = _len = 0;
        _fileEnded = false;
        _ended = false;
        Break = null;
        _delivered = offset;

        // Every queued member starts at or after this one (Locate dropped the earlier ones): they are met again.
        _members.Clear();
        _following = null;
        return true;
    }

    public override async ValueTask DisposeAsync()
    {
        await DropDeflateAsync().ConfigureAwait(false);
        if (_buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = [];
        }

        await base.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>Reads a member header and starts inflating; false at the clean end of the file or on a break.</summary>
    private async ValueTask<bool> StartMemberAsync(CancellationToken ct)
    {
        if (!await EnsureAsync(1, ct).ConfigureAwait(false))
        {
            _ended = true;
            return false;
        }

        _memberStart = Offset;
        _members.Enqueue((_delivered, _memberStart));
        if (_following is null && _delivered > _lastLocated)
        {
            _following = (_delivered, _memberStart);
        }

        if (_members.Count > MaxTrackedMembers)
        {
            _located = _members.Dequeue();
        }

        var whole = await EnsureAsync(10, ct).ConfigureAwait(false);
        var header = _buffer.AsSpan(_pos, _len - _pos);
        ReadOnlySpan<byte> magic = [0x1F, 0x8B, 0x08];
        if (!header[..Math.Min(3, header.Length)].SequenceEqual(magic[..Math.Min(3, header.Length)])
            || (header.Length >= 4 && (header[3] & 0xE0) != 0))
        {
            if (await RestIsZeroAsync(ct).ConfigureAwait(false))
            {
                // Zero padding after the last member (some tools pad to a block size) holds nothing.
                _ended = true;
                return false;
            }

            Damaged(_memberStart, $"the bytes at {_memberStart} are not a gzip member");
            return false;
        }

        if (!whole)
        {
            return Truncated($"the file ends at byte {FileLength}, inside the header of the gzip member that starts at byte {_memberStart}");
        }

        var flags = header[3];
        _pos += 10;
        if ((flags & 0x04) != 0)
        {
            if (!await EnsureAsync(2, ct).ConfigureAwait(false))
            {
                return TruncatedHeader();
            }

            var extra = BinaryPrimitives.ReadUInt16LittleEndian(_buffer.AsSpan(_pos));
            _pos += 2;
            if (!await SkipAsync(extra, ct).ConfigureAwait(false))
            {
                return TruncatedHeader();
            }
        }

        for (var field = 0x08; field <= 0x10; field <<= 1)
        {
            if ((flags & field) != 0)
            {
                switch (await SkipZeroTerminatedAsync(ct).ConfigureAwait(false))
                {
                    case null:
                        return TruncatedHeader();
                    case false:
                        Damaged(_memberStart, $"the gzip member at byte {_memberStart} has a name or comment field over {MaxHeaderFieldBytes} bytes");
                        return false;
                }
            }
        }

        if ((flags & 0x02) != 0 && !await SkipAsync(2, ct).ConfigureAwait(false))
        {
            return TruncatedHeader();
        }

        _deflate = new DeflateStream(_feed, CompressionMode.Decompress, leaveOpen: true);
        _crc.Reset();
        _memberOutput = 0;
        _deflateHitEnd = false;
        _lastChunkStart = _previousChunkStart = _pos;
        return true;
    }

    /// <summary>After the deflate data ended: finds and checks the trailer; false on a break.</summary>
    private async ValueTask<bool> EndMemberAsync(CancellationToken ct)
    {
        if (_deflateHitEnd)
        {
            return Truncated($"the file ends at byte {FileLength}, inside the deflate data of the gzip member that starts at byte {_memberStart}");
        }

        await EnsureAsync(8, ct).ConfigureAwait(false);
        var size = (uint)_memberOutput;
        var sizeMatched = false;
        for (var p = _previousChunkStart; p <= _pos && p + 8 <= _len; p++)
        {
            if (BinaryPrimitives.ReadUInt32LittleEndian(_buffer.AsSpan(p + 4)) != size)
            {
                continue;
            }

            if (BinaryPrimitives.ReadUInt32LittleEndian(_buffer.AsSpan(p)) == _crc.GetCurrentHashAsUInt32())
            {
                _pos = p + 8;
                await DropDeflateAsync().ConfigureAwait(false);
                return true;
            }

            sizeMatched = true;
        }

        if (_fileEnded && _len - _pos < 8)
        {
            return Truncated($"the file ends at byte {FileLength}, inside the trailer of the gzip member that starts at byte {_memberStart}");
        }

        Damaged(_memberStart, sizeMatched
            ? $"the gzip member at byte {_memberStart} fails its CRC-32 check"
            : $"the gzip member at byte {_memberStart} has no valid trailer after its deflate data");
        return false;
    }

    private bool Truncated(string reason)
    {
        Break = new WarcInputBreak(Truncated: true, reason);
        return false;
    }

    private bool TruncatedHeader() =>
        Truncated($"the file ends at byte {FileLength}, inside the header of the gzip member that starts at byte {_memberStart}");

    private void Damaged(long at, string reason)
    {
        _damagedAt = at;
        Break = new WarcInputBreak(Truncated: false, reason);
    }

    private async ValueTask DropDeflateAsync()
    {
        if (_deflate is not null)
        {
            await _deflate.DisposeAsync().ConfigureAwait(false);
            _deflate = null;
        }

        _lastChunkStart = _previousChunkStart = -1;
    }

    /// <summary>Makes at least <paramref name="count"/> bytes available at the read position; false at the end of the file.</summary>
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
    /// Reads more of the file, first moving the unread bytes (and, while inflating, the last two chunks
    /// handed to the inflater, where its data may end) to the front of the buffer.
    /// </summary>
    private async ValueTask<bool> FillAsync(CancellationToken ct)
    {
        if (_fileEnded)
        {
            return false;
        }

        var keep = _previousChunkStart >= 0 ? Math.Min(_pos, _previousChunkStart) : _pos;
        if (keep > 0)
        {
            _buffer.AsSpan(keep, _len - keep).CopyTo(_buffer);
            _bufferFileOffset += keep;
            _pos -= keep;
            _len -= keep;
            if (_previousChunkStart >= 0)
            {
                _previousChunkStart -= keep;
                _lastChunkStart -= keep;
            }
        }

        if (_len == _buffer.Length)
        {
            var larger = ArrayPool<byte>.Shared.Rent(_buffer.Length * 2);
            _buffer.AsSpan(0, _len).CopyTo(larger);
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = larger;
        }

        var read = await File.ReadAsync(_buffer.AsMemory(_len), ct).ConfigureAwait(false);
        if (read == 0)
        {
            _fileEnded = true;
            return false;
        }

        _len += read;
        return true;
    }

    private async ValueTask<bool> SkipAsync(int count, CancellationToken ct)
    {
        while (count > 0)
        {
            if (_len == _pos && !await FillAsync(ct).ConfigureAwait(false))
            {
                return false;
            }

            var step = Math.Min(count, _len - _pos);
            _pos += step;
            count -= step;
        }

        return true;
    }

    /// <summary>Skips a zero-terminated header field: true when done, false when too long, null at the end of the file.</summary>
    private async ValueTask<bool?> SkipZeroTerminatedAsync(CancellationToken ct)
    {
        var skipped = 0;
        while (true)
        {
            var zero = _buffer.AsSpan(_pos, _len - _pos).IndexOf((byte)0);
            if (zero >= 0)
            {
                _pos += zero + 1;
                return true;
            }

            skipped += _len - _pos;
            _pos = _len;
            if (skipped > MaxHeaderFieldBytes)
            {
                return false;
            }

            if (!await FillAsync(ct).ConfigureAwait(false))
            {
                return null;
            }
        }
    }

    private async ValueTask<bool> RestIsZeroAsync(CancellationToken ct)
    {
        while (true)
        {
            if (_buffer.AsSpan(_pos, _len - _pos).ContainsAnyExcept((byte)0))
            {
                return false;
            }

            _pos = _len;
            if (!await FillAsync(ct).ConfigureAwait(false))
            {
                return true;
            }
        }
    }

    /// <summary>Hands buffered compressed bytes to the inflater, topping the buffer up so that each chunk is full.</summary>
    private async ValueTask<int> FeedAsync(Memory<byte> destination, CancellationToken ct)
    {
        if (_len - _pos < destination.Length)
        {
            await FillAsync(ct).ConfigureAwait(false);
        }

        if (_len == _pos)
        {
            _deflateHitEnd = true;
            return 0;
        }

        _previousChunkStart = _lastChunkStart;
        _lastChunkStart = _pos;
        var count = Math.Min(destination.Length, _len - _pos);
        _buffer.AsSpan(_pos, count).CopyTo(destination.Span);
        _pos += count;
        return count;
    }

    /// <summary>The stream a <see cref="DeflateStream"/> pulls the current member's compressed bytes from.</summary>
    private sealed class DeflateFeed(GzipWarcInput owner) : ReadOnlyStream
    {
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            owner.FeedAsync(buffer, cancellationToken);
    }
}
