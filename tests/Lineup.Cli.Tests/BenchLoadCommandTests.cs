using Lineup.TestSupport;

namespace Lineup.Cli.Tests;

/// <summary><c>lineup bench load</c>'s input errors: exit 2 with a message naming the input, before any load is sent.</summary>
public sealed class BenchLoadCommandTests
{
    [Theory]
    [InlineData("--url", new[] { "--api-key", "lk_x", "--photos", ".", "--case", "C-1" })]
    [InlineData("--api-key", new[] { "--url", "http://127.0.0.1:9", "--photos", ".", "--case", "C-1" })]
    [InlineData("--photos", new[] { "--url", "http://127.0.0.1:9", "--api-key", "lk_x", "--case", "C-1" })]
    [InlineData("--case", new[] { "--url", "http://127.0.0.1:9", "--api-key", "lk_x", "--photos", "." })]
    public async Task A_missing_required_option_is_a_usage_error(string missing, string[] given)
    {
        var result = await CliProcess.RunAsync(["bench", "load", .. given]);

        Assert.Equal(ExitCodes.BadInput, result.ExitCode);
        Assert.Contains(missing, result.Stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--url", "not a url", "--clients", "32")]
    [InlineData("--url", "ftp://127.0.0.1/", "--clients", "32")]
    [InlineData("--clients", "0", "--duration", "60")]
    [InlineData("--duration", "0", "--clients", "1")]
    [InlineData("--warmup", "-1", "--clients", "1")]
    public async Task A_bad_value_is_refused_with_exit_2_naming_the_option(string option, string value, string other, string otherValue)
    {
        using var dir = new TempDirectory("bench-load");
        await File.WriteAllBytesAsync(dir.Combine("probe.jpg"), TestImages.Jpeg(64, 64));
        string[] args = ["bench", "load", "--url", "http://127.0.0.1:9", "--api-key", "lk_x", "--case", "C-1", "--photos", dir.Path, other, otherValue];
        var replaced = args.ToList();
        var at = replaced.IndexOf(option);
        if (at >= 0)
        {
            replaced[at + 1] = value;
        }
        else
        {
            replaced.AddRange([option, value]);
        }

        var result = await CliProcess.RunAsync(replaced);

        Assert.Equal(ExitCodes.BadInput, result.ExitCode);
        Assert.Contains(option, result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_folder_without_jpegs_is_refused_before_anything_is_sent()
    {
        using var dir = new TempDirectory("bench-load-empty");
        await File.WriteAllTextAsync(dir.Combine("notes.txt"), "no photos here");

        var result = await CliProcess.RunAsync(["bench", "load", "--url", "http://127.0.0.1:9", "--api-key", "lk_x", "--case", "C-1", "--photos", dir.Path]);

        Assert.Equal(ExitCodes.BadInput, result.ExitCode);
        Assert.Contains("no JPEG", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unreachable_server_stops_the_benchmark_in_the_preflight()
    {
        using var dir = new TempDirectory("bench-load-down");
        await File.WriteAllBytesAsync(dir.Combine("probe.jpg"), TestImages.Jpeg(64, 64));

        // Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
        var result = await CliProcess.RunAsync(["bench", "load", "--url", "http://127.0.0.1:9", "--api-key", "lk_x", "--case", "C-1", "--photos", dir.Path, "--duration", "1", "--warmup", "0"]);

        Assert.Equal(ExitCodes.Error, result.ExitCode);
        Assert.Contains("cannot reach", result.Stderr, StringComparison.Ordinal);
    }
}
