using System.IO.Compression;

namespace Lineup.Ingest.Sources;

/// <summary>
/// Opens the right source for a path: a folder, a zip or tar archive (optionally gzip-compressed), a WARC
/// file (optionally gzip-compressed) or a CSV / JSON Lines manifest. Tar archives may be compressed with
/// gzip, bzip2, xz, zstd or lzip. Formats are told by content, not by
/// name, except manifests (text has no signature) which are told by extension.
/// </summary>
public static class IngestSources
{
    /// <summary>The source kinds <see cref="Open(string, string, SourceLimits)"/> accepts.</summary>
    public static IReadOnlyList<string> Kinds { get; } = ["folder", "zip", "tar", "warc", "manifest"];

    public static IIngestSource Open(string path, SourceLimits limits)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        ArgumentNullException.ThrowIfNull(limits);
        var full = Path.GetFullPath(path);
        if (Directory.Exists(full))
        {
            return new FolderSource(full, limits.MaxItemBytes);
        }

        if (!File.Exists(full))
        {
            throw new IngestSourceException($"{path}: no such file or folder.");
        }

        var extension = Path.GetExtension(full).ToLowerInvariant();
        if (extension is ".csv" or ".jsonl" or ".ndjson")
        {
            return new ManifestSource(full, limits);
        }

        return Sniff(full) switch
        {
            "warc" => new WarcSource(full, limits),
            "zip" or "tar" => new ArchiveSource(full, limits),
            _ => throw new IngestSourceException(
                $"{path}: not a folder, a zip or tar(.gz) archive, a WARC(.gz) file or a .csv/.jsonl manifest."),
        };
    }

    /// <summary>Reopens the source of a recorded run; the kind must still match what is at the path.</summary>
    public static IIngestSource Open(string kind, string path, SourceLimits limits)
    {
        var source = Open(path, limits);
        return source.Kind == kind
            ? source
            : throw new IngestSourceException($"{path} was a {kind} source when the run started but is now a {source.Kind} source.");
    }

    /// <summary>Reads the first bytes (through gzip when compressed) and names the container.</summary>
    private static string? Sniff(string path)
    {
        try
        {
            using var file = File.OpenRead(path);
            Span<byte> head = stackalloc byte[512];
            var read = file.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
            head = head[..read];
            if (head.Length >= 2 && head[0] == 0x1f && head[1] == 0x8b)
            {
                file.Position = 0;
                using var gzip = new GZipStream(file, CompressionMode.Decompress);
                Span<byte> inner = stackalloc byte[512];
                try
                {
                    var n = gzip.ReadAtLeast(inner, inner.Length, throwOnEndOfStream: false);
                    return Container(inner[..n]) ?? "tar";
                }
                catch (InvalidDataException)
                {
                    // Corrupt from the first member on: let the archive reader report it with its location.
                    return "tar";
                }
            }

            return Container(head);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IngestSourceException($"{path}: cannot be read: {e.Message}", e);
        }
    }

    private static string? Container(ReadOnlySpan<byte> head)
    {
        if (head.StartsWith("WARC/"u8))
        {
            return "warc";
        }

        if (head.Length >= 4 && head[0] == (byte)'P' && head[1] == (byte)'K' && head[2] is 3 or 5 or 7)
        {
            return "zip";
        }

        // bzip2, xz, zstd and lzip carry no name of what they compress; the archive reader looks inside.
        if (head.StartsWith("BZh"u8) || head.StartsWith((ReadOnlySpan<byte>)[0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00]) ||
            head.StartsWith((ReadOnlySpan<byte>)[0x28, 0xB5, 0x2F, 0xFD]) || head.StartsWith("LZIP"u8))
        {
            return "tar";
        }

        return head.Length >= 262 && head.Slice(257, 5).SequenceEqual("ustar"u8) ? "tar" : null;
    }
}
