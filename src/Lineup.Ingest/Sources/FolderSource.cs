using System.Runtime.CompilerServices;
using Lineup.Core.Catalog;

namespace Lineup.Ingest.Sources;

/// <summary>
/// Every regular file under a folder, recursively, depth-first with each folder's entries in ordinal
/// order, so that two reads of the same tree yield the same sequence. Only one folder's listing is held
/// at a time (a tree of millions of files streams). Files are offered whatever their extension: the
/// decoder sniffs content, so a WebP named .jpg is still read and a text file named .jpg is refused by
/// content. Hidden files and folders (dot-names) are passed over.
/// </summary>
public sealed class FolderSource(string root, long maxBytes) : IIngestSource
{
    public string Root { get; } = Path.GetFullPath(root);

    public string Kind => "folder";

    public string Description => Root;

    public Task<long?> CountAsync(CancellationToken ct)
    {
        EnsureExists();
        long count = 0;
        foreach (var _ in Walk(Root, ct))
        {
            count++;
        }

        return Task.FromResult<long?>(count);
    }

    public async IAsyncEnumerable<IngestItem> ReadAsync([EnumeratorCancellation] CancellationToken ct)
    {
        EnsureExists();
        foreach (var file in Walk(Root, ct))
        {
            var relative = Path.GetRelativePath(Root, file);
            yield return new IngestItem(relative, c => ReadFileAsync(file, relative, c), new Provenance(OriginalPath: file));
            await Task.Yield();
        }
    }

    private void EnsureExists()
    {
        if (!Directory.Exists(Root))
        {
            throw new IngestSourceException($"{Root}: no such folder.");
        }
    }

    private static readonly EnumerationOptions Listing = new()
    {
        RecurseSubdirectories = false,
        IgnoreInaccessible = true,
        AttributesToSkip = FileAttributes.Hidden,
        ReturnSpecialDirectories = false,
    };

    /// <summary>Files of <paramref name="folder"/> first, then each subfolder, all in ordinal name order.</summary>
    private static IEnumerable<string> Walk(string folder, CancellationToken ct)
    {
        var pending = new Stack<string>();
        pending.Push(folder);
        while (pending.Count > 0)
        {
            ct.ThrowIfCancellationRequested();
            var current = pending.Pop();
            string[] files, folders;
            try
            {
                files = [.. Directory.EnumerateFiles(current, "*", Listing).Where(f => !IsHidden(f)).Order(StringComparer.Ordinal)];
                folders = [.. Directory.EnumerateDirectories(current, "*", Listing).Where(f => !IsHidden(f)).Order(StringComparer.Ordinal)];
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // A folder that vanished or cannot be listed mid-walk holds no items we could read anyway.
                continue;
            }

            foreach (var file in files)
            {
                yield return file;
            }

            for (var i = folders.Length - 1; i >= 0; i--)
            {
                pending.Push(folders[i]);
            }
        }
    }

    private static bool IsHidden(string path) => Path.GetFileName(path).StartsWith('.');

    private async ValueTask<byte[]> ReadFileAsync(string path, string name, CancellationToken ct)
    {
        var info = new FileInfo(path);
        if (info.LinkTarget is not null && info.ResolveLinkTarget(returnFinalTarget: true) is not { Exists: true })
        {
            throw new IngestItemFailedException($"{name}: a link whose target does not exist.");
        }

        if (!info.Exists)
        {
            throw new IngestItemFailedException($"{name}: the file disappeared before it was read.");
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
