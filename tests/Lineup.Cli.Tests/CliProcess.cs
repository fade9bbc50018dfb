using System.Diagnostics;
using System.Text;

namespace Lineup.Cli.Tests;

/// <summary>Runs the built <c>lineup</c> command as a real child process.</summary>
internal sealed record CliResult(int ExitCode, string Stdout, string Stderr);

internal static class CliProcess
{
    public static string Dll => Path.Combine(AppContext.BaseDirectory, "lineup.dll");

    public static ProcessStartInfo StartInfo(IEnumerable<string> args, IDictionary<string, string>? env = null)
    {
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Dll);
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["NO_COLOR"] = "1";
        start.Environment.Remove("LINEUP_DATA");
        start.Environment.Remove("LINEUP_MODELS");
        foreach (var (k, v) in env ?? new Dictionary<string, string>())
        {
            start.Environment[k] = v;
        }

        return start;
    }

    public static async Task<CliResult> RunAsync(IEnumerable<string> args, IDictionary<string, string>? env = null, TimeSpan? timeout = null)
    {
        using var process = Process.Start(StartInfo(args, env))!;
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        var outTask = Task.Run(async () => stdout.Append(await process.StandardOutput.ReadToEndAsync()));
        var errTask = Task.Run(async () => stderr.Append(await process.StandardError.ReadToEndAsync()));
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromMinutes(5));
        await process.WaitForExitAsync(cts.Token);
        await Task.WhenAll(outTask, errTask);
        return new CliResult(process.ExitCode, stdout.ToString(), stderr.ToString());
    }
}
