using System.Text.Json;
using Lineup.TestSupport;

namespace Lineup.Cli.Tests;

/// <summary><c>lineup bench index</c>'s refusals: each names the option and stops before any work.</summary>
public sealed class BenchIndexCommandTests
{
    [Theory]
    [InlineData("--quantization", "f8", "'f8' is not f32, f16 or i8")]
    [InlineData("--quantization", ",", "give at least one value")]
    [InlineData("--connectivity", "16,x", "'x' is not a whole number")]
    [InlineData("--connectivity", "1", "Connectivity must be 2 to 256")]
    [InlineData("--ef", "5", "Search expansion must be k (10)")]
    [InlineData("--faces", "999", "1,000 to 100,000,000")]
    [InlineData("--queries", "1", "2 to 100,000")]
    [InlineData("--exact-queries", "5000", "--queries")]
    [InlineData("--threads", "0", "Threads must be 1 to 256")]
    [InlineData("--rerank", "0", "Re-rank factors must be 1 to 100")]
    [InlineData("--catalog-sample", "-1", "0 to 10,000,000")]
    [InlineData("--engine", "hnsw", "Engines are usearch and ivf")]
    [InlineData("--probes", "70000", "Probes must be 0 (by size) to 65,536")]
    [InlineData("--lists", "0", "Lists must be 1 to 65,536")]
    [InlineData("--scan-threads", "1,3", "Scan threads are 1 or 2")]
    public async Task A_bad_setting_is_refused_naming_the_option(string option, string value, string message)
    {
        using var dir = new TempDirectory("bench-index-args");

        var result = await CliProcess.RunAsync(["--data", dir.Combine("data"), "bench", "index", option, value]);

        Assert.Equal(ExitCodes.BadInput, result.ExitCode);
        Assert.Contains($"{option}:", result.Stderr, StringComparison.Ordinal);
        Assert.Contains(message, result.Stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(dir.Combine("data")), "a refused benchmark creates no data directory");
    }

    [Fact]
    public async Task A_data_directory_that_does_not_exist_is_refused()
    {
        using var dir = new TempDirectory("bench-index-nodata");

        var result = await CliProcess.RunAsync(["--data", dir.Combine("missing"), "bench", "index", "--faces", "2000"]);

        Assert.Equal(ExitCodes.BadInput, result.ExitCode);
        Assert.Contains("does not exist", result.Stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(dir.Combine("missing")));
    }

    [Fact]
    public async Task An_unknown_cold_start_mode_is_refused()
    {
        using var dir = new TempDirectory("bench-index-open");

        var result = await CliProcess.RunAsync(["bench", "index-open", dir.Combine("none.usearch"), "--mode", "stream"]);

        Assert.Equal(ExitCodes.BadInput, result.ExitCode);
        Assert.Contains("--mode: 'stream'", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_cold_start_on_a_file_that_is_not_an_index_fails_naming_the_file()
    {
        using var dir = new TempDirectory("bench-index-open-bad");
        var path = dir.Combine("garbage.usearch");
        await File.WriteAllBytesAsync(path, new byte[4096]);

        var result = await CliProcess.RunAsync(["bench", "index-open", path]);

        Assert.NotEqual(ExitCodes.Ok, result.ExitCode);
        Assert.Contains("garbage.usearch", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled", result.Stderr, StringComparison.Ordinal);
    }

    internal static JsonElement Build(JsonElement result, string quantization) =>
        result.GetProperty("builds").EnumerateArray().Single(b => b.GetProperty("quantization").GetString() == quantization);
}
