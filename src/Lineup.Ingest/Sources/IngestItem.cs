using Lineup.Core.Catalog;

namespace Lineup.Ingest.Sources;

/// <summary>
/// One candidate gallery image from a source: a name for messages, a way to read its bytes, and what the
/// source knows of its provenance.
/// </summary>
public sealed record IngestItem(string Name, Func<CancellationToken, ValueTask<byte[]>> ReadAsync, Provenance Provenance);

/// <summary>A stream of candidate images (a folder today; archives, WARC files and manifests plug in here).</summary>
public interface IIngestSource
{
    /// <summary>Describes the source for progress lines and run records.</summary>
    string Description { get; }

    IAsyncEnumerable<IngestItem> ReadAsync(CancellationToken ct);
}
