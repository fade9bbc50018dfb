namespace Lineup.Ingest.Sources.Warc;

/// <summary>Why a <see cref="WarcInput"/> stopped before the end of its file.</summary>
/// <param name="Truncated">True when the file simply ends too early (nothing more can be read).</param>
/// <param name="Reason">What happened, naming byte offsets in the file.</param>
internal sealed record WarcInputBreak(bool Truncated, string Reason);

/// <summary>
/// The WARC byte stream of one file, decompressed when the file is gzip, read forward once. Besides the
/// bytes it knows where a decompressed offset lies in the file (<see cref="Locate"/>), and it can stop
/// early with a <see cref="Break"/> (a truncated or damaged gzip member) from which
/// <see cref="ResumeAsync"/> may recover at the next member.
/// </summary>
internal abstract class WarcInput : IAsyncDisposable
{
    protected WarcInput(FileStream file)
    {
        File = file;
        FileLength = file.Length;
    }

    protected FileStream File { get; }

    public long FileLength { get; }

    /// <summary>Set when <see cref="ReadAsync"/> returned 0 because of damage rather than a clean end.</summary>
    public WarcInputBreak? Break { get; protected set; }

    /// <summary>Reads decompressed bytes; 0 means the end of the file or a <see cref="Break"/>.</summary>
    public abstract ValueTask<int> ReadAsync(Memory<byte> destination, CancellationToken ct);

    /// <summary>
    /// Passes over up to <paramref name="count"/> bytes without reading them when the input can seek;
    /// returns how many were passed over, or -1 when the caller has to read and discard them.
    /// </summary>
    public virtual long Skip(long count) => -1;

    /// <summary>After a damaging <see cref="Break"/>, moves to the next readable part of the file; false when there is none.</summary>
    public virtual ValueTask<bool> ResumeAsync(CancellationToken ct) => ValueTask.FromResult(false);

    /// <summary>True when <see cref="SeekAsync"/> can go back to any decompressed offset (a plain file).</summary>
    public virtual bool IsSeekable => false;

    /// <summary>
    /// Moves so that the next <see cref="ReadAsync"/> returns the byte at decompressed <paramref name="offset"/>,
    /// clearing any <see cref="Break"/>. A plain file can go anywhere; gzip only to <see cref="NextMemberStart"/>,
    /// since inflating can only begin at a member. False when the input cannot go there.
    /// </summary>
    public virtual ValueTask<bool> SeekAsync(long offset, CancellationToken ct) => ValueTask.FromResult(false);

    /// <summary>True when the offset last given to <see cref="Locate"/> is the first byte of a gzip member.</summary>
    public virtual bool LocatedAtMemberStart => false;

    /// <summary>
    /// The decompressed offset where the first gzip member after the offset last given to <see cref="Locate"/>
    /// starts, once reading has reached it; null for a plain file or when no later member has been reached.
    /// </summary>
    public virtual long? NextMemberStart => null;

    /// <summary>
    /// Where the WARC byte at decompressed <paramref name="offset"/> lies: the file offset for a plain file;
    /// for gzip the offset of the member it is in, plus <c>+n</c> when it is n bytes into that member's
    /// data. Offsets are asked for in increasing order.
    /// </summary>
    public abstract string Locate(long offset);

    /// <summary>Says where and why the data ran out, for a record that the end cut short.</summary>
    public abstract string DescribeEnd();

    public virtual ValueTask DisposeAsync() => File.DisposeAsync();

    /// <summary>Opens <paramref name="path"/>, choosing gzip by the magic bytes 1F 8B (not by the name).</summary>
    public static async ValueTask<WarcInput> OpenAsync(string path, CancellationToken ct)
    {
        FileStream file;
        try
        {
            file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0, FileOptions.SequentialScan);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IngestSourceException($"{path}: cannot be opened: {e.Message}", e);
        }

        try
        {
            var magic = new byte[2];
            var read = await file.ReadAtLeastAsync(magic, magic.Length, throwOnEndOfStream: false, ct).ConfigureAwait(false);
            file.Position = 0;
            return read == 2 && magic[0] == 0x1F && magic[1] == 0x8B ? new GzipWarcInput(file) : new PlainWarcInput(file);
        }
        catch
        {
            await file.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }
}

/// <summary>An uncompressed WARC: decompressed offsets are file offsets, and skipping seeks.</summary>
internal sealed class PlainWarcInput(FileStream file) : WarcInput(file)
{
    public override ValueTask<int> ReadAsync(Memory<byte> destination, CancellationToken ct) => File.ReadAsync(destination, ct);

    public override long Skip(long count)
    {
        var passed = Math.Min(count, FileLength - File.Position);
        File.Position += passed;
        return passed;
    }

    public override bool IsSeekable => true;

    public override ValueTask<bool> SeekAsync(long offset, CancellationToken ct)
    {
        File.Position = Math.Clamp(offset, 0, FileLength);
        return ValueTask.FromResult(true);
    }

    public override string Locate(long offset) => offset.ToString();

    public override string DescribeEnd() => $"the file ends at byte {FileLength}";
}
