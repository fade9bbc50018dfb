namespace Lineup.Bench;

/// <summary>Where the benchmarks find the models and a test photo: the same places as the tests and the CLI.</summary>
public static class BenchPaths
{
    /// <summary>The repository root: the nearest folder above the benchmark holding <c>Lineup.slnx</c>.</summary>
    public static string Root
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "Lineup.slnx")))
                {
                    return dir.FullName;
                }
            }

            // BenchmarkDotNet runs each benchmark from a generated project under bin/; the working directory is the repo's then.
            return Directory.GetCurrentDirectory();
        }
    }

    /// <summary><c>LINEUP_MODELS</c>, or the repository's <c>.cache/models</c> (filled by <c>lineup models fetch</c>).</summary>
    public static string Models => Environment.GetEnvironmentVariable("LINEUP_MODELS") is { Length: > 0 } path ? path : Path.Combine(Root, ".cache", "models");

    /// <summary><c>LINEUP_BENCH_PHOTO</c>, or a single-face photo of the shared test data.</summary>
    public static string Photo =>
        Environment.GetEnvironmentVariable("LINEUP_BENCH_PHOTO") is { Length: > 0 } path
            ? path
            : Path.GetFullPath(Path.Combine(Root, "..", "shared", "data", "faces", "deepface", "images", "Angelina_Jolie", "img2.jpg"));
}
