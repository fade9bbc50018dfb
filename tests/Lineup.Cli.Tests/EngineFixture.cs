using Lineup.Hosting;
using Lineup.TestSupport;

namespace Lineup.Cli.Tests;

/// <summary>Options for a fresh data directory that shares the test model cache.</summary>
internal static class Engines
{
    public static async Task<LineupOptions> OptionsAsync(TempDirectory dir, string kind = "usearch")
    {
        await TestPaths.ModelsAsync();
        return new LineupOptions
        {
            DataDirectory = dir.Combine("data"),
            ModelsDirectory = TestPaths.ModelCache,
            Workers = 2,
            Index = new IndexSettings { Kind = kind },
        };
    }

    /// <summary>Copies shared photos into a scratch gallery folder (never into the repository).</summary>
    public static string Gallery(TempDirectory dir, string name, params string[] photos)
    {
        var folder = dir.Combine(name);
        Directory.CreateDirectory(folder);
        foreach (var photo in photos)
        {
            var target = Path.Combine(folder, photo.Replace('/', '_'));
            File.Copy(TestPaths.Face(photo), target);
        }

        return folder;
    }

    /// <summary>Identity of a shared photo from manifest.csv.</summary>
    public static IReadOnlyDictionary<string, string> Identities { get; } = LoadIdentities();

    private static Dictionary<string, string> LoadIdentities()
    {
        var path = Path.Combine(TestPaths.FacesDirectory, "manifest.csv");
        return File.Exists(path)
            ? Lineup.Ingest.Sources.CsvReader.ReadFile(path).ToDictionary(r => r["path"], r => r["identity"])
            : [];
    }
}
