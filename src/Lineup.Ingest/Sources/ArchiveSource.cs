using System.Runtime.CompilerServices;
using Lineup.Ingest.Sources.Archives;

namespace Lineup.Ingest.Sources;

/// <summary>
/// The regular files inside a zip or tar archive (plain, or tar inside gzip, bzip2, xz, zstd or lzip), in
/// archive order, each named <c>photos.zip!a/b.jpg</c>. The archive is read forward-only with SharpCompress's
/// streaming readers, one member in memory at a time, so a 100 GB tar.gz streams; nothing is extracted to disk.
/// Directories, links, empty members (which include tar devices and FIFOs), hidden members (a path segment
/// starting with a dot) and <c>__MACOSX/</c> are passed over. Budgets (<see cref="SourceLimits"/>) are enforced
/// while decompressing, whatever the headers claim; an unsafe member name is refused; a truncated or corrupt
/// archive yields what comes before the damage and then one failed item.
/// </summary>
public sealed class ArchiveSource(string path, SourceLimits limits) : IIngestSource
{
    private string? _kind;

    public string FullPath { get; } = Path.GetFullPath(path);

    /// <summary><c>zip</c> or <c>tar</c> (compressed or not), told from the first bytes.</summary>
    public string Kind => _kind ??= DetectKind();

    public string Description => FullPath;

    /// <summary>
    /// A zip is counted from its central directory, without decompressing; a tar (or a zip cut before its
    /// central directory) is streamed once, member data skipped.
    /// </summary>
    public Task<long?> CountAsync(CancellationToken ct)
    {
        var (file, format) = Open();
        using (file)
        {
            if (format == ArchiveFormat.Zip)
            {
                long fromDirectory = 0;
                var listing = ZipCentralDirectory.TryRead(file, entry =>
                {
                    if (!entry.IsDirectory && entry.IsRegular && entry.Size > 0 && EntryName.Check(entry.Name).Kind != EntryNameKind.Hidden)
                    {
                        fromDirectory++;
                    }

                    return false;
                });
                if (listing is not null)
                {
                    return Task.FromResult<long?>(fromDirectory);
                }

                file.Position = 0;
            }

            using var walk = ArchiveWalk.Open(file, format, limits, s_noNames);
            return Task.FromResult<long?>(walk.Count(ct));
        }
    }

    public async IAsyncEnumerable<IngestItem> ReadAsync([EnumeratorCancellation] CancellationToken ct)
    {
        var (file, format) = Open();
        using (file)
        {
            IReadOnlySet<string> notRegular = s_noNames;
            if (format == ArchiveFormat.Zip)
            {
                notRegular = ZipCentralDirectory.TryRead(file, entry => !entry.IsRegular)?.Select(e => e.Name).ToHashSet(StringComparer.Ordinal)
                    ?? s_noNames;
                file.Position = 0;
            }

            using var walk = ArchiveWalk.Open(file, format, limits, notRegular);
            while (walk.Next(ct) is { } item)
            {
                yield return item;
                await Task.Yield();
            }
        }
    }

    private static readonly IReadOnlySet<string> s_noNames = new HashSet<string>();

    private (FileStream File, ArchiveFormat Format) Open()
    {
        FileStream file;
        try
        {
            file = new FileStream(FullPath, FileMode.Open, FileAccess.Read, FileShare.Read, 64 * 1024, FileOptions.SequentialScan);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new IngestSourceException($"{FullPath}: no such file.", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IngestSourceException($"{FullPath}: cannot be read: {e.Message}", e);
        }

        try
        {
            var head = new byte[ArchiveFormats.HeadLength];
            var read = file.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
            var format = ArchiveFormats.Detect(head.AsSpan(0, read))
                ?? throw new IngestSourceException($"{FullPath}: not a zip or tar archive (no zip, tar, gzip, bzip2, xz, zstd or lzip signature).");
            file.Position = 0;
            return (file, format);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            file.Dispose();
            throw new IngestSourceException($"{FullPath}: cannot be read: {e.Message}", e);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>From the signature when the file can be read, else from the name (the read then reports why not).</summary>
    private string DetectKind()
    {
        try
        {
            using var file = File.OpenRead(FullPath);
            var head = new byte[ArchiveFormats.HeadLength];
            var read = file.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
            if (ArchiveFormats.Detect(head.AsSpan(0, read)) is { } format)
            {
                return format == ArchiveFormat.Zip ? "zip" : "tar";
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Fall through to the name.
        }

        return FullPath.EndsWith(".zip", StringComparison.OrdinalIgnoreCase) ? "zip" : "tar";
    }
}
