using Lineup.Core.Catalog;

namespace Lineup.Ingest.Sources;

/// <summary>
/// One candidate gallery image from a source: its location, a way to read its bytes, and what the source
/// knows of its provenance.
/// </summary>
/// <param name="Name">
/// The item's location within the source, unique and stable across reads of the same input (a relative
/// path, <c>photos.tar.gz!a/b.jpg</c>, <c>crawl.warc.gz@1234</c>, <c>manifest.csv:12</c>). It names the item
/// in every message and is the key by which a resumed run skips what it has already done.
/// </param>
/// <param name="ReadAsync">
/// Returns the encoded bytes. Throws <see cref="IngestItemRefusedException"/> when policy refuses the item
/// (over a budget) and <see cref="IngestItemFailedException"/> when the source found it broken; the message
/// of either already names the location.
/// </param>
public sealed record IngestItem(string Name, Func<CancellationToken, ValueTask<byte[]>> ReadAsync, Provenance Provenance)
{
    /// <summary>An item already read into memory (streaming sources must read an entry before moving on).</summary>
    public static IngestItem InMemory(string name, byte[] bytes, Provenance provenance) =>
        new(name, _ => ValueTask.FromResult(bytes), provenance);

    /// <summary>A place in the source that could not be turned into an image; it is reported and the run goes on.</summary>
    public static IngestItem Failed(string name, string reason, Provenance? provenance = null) =>
        new(name, _ => ValueTask.FromException<byte[]>(new IngestItemFailedException(reason)), provenance ?? new Provenance());

    /// <summary>A place in the source that policy refuses (a budget, a path-traversal name); reported, the run goes on.</summary>
    public static IngestItem Refused(string name, string reason, Provenance? provenance = null) =>
        new(name, _ => ValueTask.FromException<byte[]>(new IngestItemRefusedException(reason)), provenance ?? new Provenance());
}

/// <summary>
/// A stream of candidate images: a folder, a zip or tar archive, a WARC file, a manifest. Sources stream:
/// memory use does not grow with the size of the input. A problem with one item becomes a
/// <see cref="IngestItem.Failed"/> or <see cref="IngestItem.Refused"/> item; only a source that cannot be
/// opened at all throws (a <see cref="IngestSourceException"/> naming it).
/// </summary>
public interface IIngestSource
{
    /// <summary>Kind of source, as stored with a run: <c>folder</c>, <c>zip</c>, <c>tar</c>, <c>warc</c>, <c>manifest</c>.</summary>
    string Kind { get; }

    /// <summary>The input (a full path), for progress lines and run records; a run is resumed from it.</summary>
    string Description { get; }

    /// <summary>
    /// How many items <see cref="ReadAsync"/> will yield, for progress and ETA; null when it cannot be known
    /// without reading everything. May stream through the input once (decompressing is far cheaper than
    /// analysing faces).
    /// </summary>
    Task<long?> CountAsync(CancellationToken ct);

    IAsyncEnumerable<IngestItem> ReadAsync(CancellationToken ct);
}

/// <summary>Budgets that sources enforce while reading, before anything is decoded.</summary>
public sealed record SourceLimits
{
    public static SourceLimits Default { get; } = new();

    /// <summary>Largest single item, in bytes (an image file, an archive member, a WARC payload).</summary>
    public long MaxItemBytes { get; init; } = 64L * 1024 * 1024;

    /// <summary>Most bytes an archive may expand to in total, whatever its headers claim.</summary>
    public long MaxExpandedBytes { get; init; } = 64L * 1024 * 1024 * 1024;

    /// <summary>Largest expansion ratio of one compressed member (a zip bomb expands by thousands).</summary>
    public double MaxCompressionRatio { get; init; } = 200;

    /// <summary>Largest HTML page parsed for image links.</summary>
    public long MaxHtmlBytes { get; init; } = 16L * 1024 * 1024;
}

/// <summary>An item the source refuses by policy (too large, not a regular file, an unsafe name) before any decoding.</summary>
public sealed class IngestItemRefusedException(string message) : Exception(message);

/// <summary>An item the source found broken (a malformed manifest line, a truncated record, a missing file).</summary>
public sealed class IngestItemFailedException(string message) : Exception(message);

/// <summary>A source that cannot be read at all (missing, unreadable, not the format it claims).</summary>
public sealed class IngestSourceException(string message, Exception? inner = null) : Exception(message, inner);
