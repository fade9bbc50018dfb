using System.Runtime.CompilerServices;
using Lineup.Core.Catalog;

namespace Lineup.Ingest.Sources;

/// <summary>
/// Every regular file under a folder, recursively, in a stable (ordinal) order. Files are offered whatever
/// their extension: the decoder sniffs content, so a WebP named .jpg is still read and a text file named
/// .jpg is refused by content. Hidden files and folders (dot-names) are passed over.
/// </summary>
public sealed class FolderSource(string root, long maxBytes) : IIngestSource
{
    public string Root { get; } = Path.GetFullPath(root);

    public string Description => Root;

    public async IAsyncEnumerable<IngestItem> ReadAsync([EnumeratorCancellation] CancellationToken ct)
    {
        if (!Directory.Exists(Root))
        {
            throw new DirectoryNotFoundException($"{Root}: no such folder.");
        }

        var options = new EnumerationOptions
        {
            RecurseSubdirectories = true,
            IgnoreInaccessible = true,
            AttributesToSkip = FileAttributes.Hidden,
            ReturnSpecialDirectories = false,
        };
        var files = Directory.EnumerateFiles(Root, "*", options)
            .Where(f => !Path.GetRelativePath(Root, f).Split(Path.DirectorySeparatorChar).Any(p => p.StartsWith('.')))
            .Order(StringComparer.Ordinal);
        foreach (var file in files)
        {
            ct.ThrowIfCancellationRequested();
            var relative = Path.GetRelativePath(Root, file);
            yield return new IngestItem(relative, c => ReadFileAsync(file, relative, c), new Provenance(OriginalPath: file));
            await Task.Yield();
        }
    }

    private async ValueTask<byte[]> ReadFileAsync(string path, string name, CancellationToken ct)
    {
        var info = new FileInfo(path);
        if (info.LinkTarget is not null && info.ResolveLinkTarget(returnFinalTarget: true) is not { Exists: true })
        {
            throw new FileNotFoundException($"{name}: a link whose target does not exist.", path);
        }

        if (info.Length > maxBytes)
        {
            throw new IngestItemRefusedException($"{name}: {info.Length:N0} bytes is over the {maxBytes:N0}-byte limit.");
        }

        if ((info.Attributes & (FileAttributes.Device | FileAttributes.ReparsePoint)) == FileAttributes.Device)
        {
            throw new IngestItemRefusedException($"{name}: not a regular file.");
        }

        return await File.ReadAllBytesAsync(path, ct).ConfigureAwait(false);
    }
}

/// <summary>An item the source itself refuses (too large, not a regular file) before any decoding.</summary>
public sealed class IngestItemRefusedException(string message) : Exception(message);
