namespace Lineup.Cli.Tests;

/// <summary>The byte scan of erasure and retention tests: which files of a data directory still hold which bytes.</summary>
internal static class ByteScan
{
    /// <summary>Every file under <paramref name="root"/>, whatever its name (open or not): the needles it holds, by name.</summary>
    public static Dictionary<string, List<string>> Files(string root, IEnumerable<(string Name, byte[] Bytes)> needles)
    {
        var list = needles.ToList();
        var found = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var file in Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories))
        {
            byte[] bytes;
            using (var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete))
            {
                bytes = new byte[stream.Length];
                stream.ReadExactly(bytes);
            }

            foreach (var (name, needle) in list)
            {
                if (Contains(bytes, needle))
                {
                    (found.TryGetValue(name, out var files) ? files : found[name] = []).Add(Path.GetRelativePath(root, file));
                }
            }
        }

        return found;
    }

    public static bool Contains(byte[] haystack, byte[] needle) => haystack.AsSpan().IndexOf(needle) >= 0;
}
