using Xunit;

namespace Lineup.TestSupport;

/// <summary>
/// The Garnet cluster the distributed-index tests share: <c>LINEUP_TEST_GARNET</c> (comma-separated seeds), else the one
/// <c>scripts/garnet-cluster.sh</c> (called by <c>.ci/run</c>) starts on 127.0.0.1:7000-7005. Every test gets a key prefix
/// of its own (<see cref="CreateKeysAsync"/>) whose keys are deleted when it ends, so tests never see each other's faces.
/// On CI a cluster that cannot be reached (or is not <c>cluster_state:ok</c>) fails the test; on a developer machine
/// without one the test is skipped.
/// </summary>
public static class GarnetTestCluster
{
    public const string DefaultEndpoints =
        "127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003,127.0.0.1:7004,127.0.0.1:7005";

    /// <summary>
    /// How long the first probe keeps trying before the cluster counts as unusable for the whole test process: CI starts
    /// every test assembly at once on two cores, and one slow answer must not fail every test that follows it.
    /// </summary>
    private static readonly TimeSpan s_probeFor = TimeSpan.FromSeconds(60);

    private static readonly SemaphoreSlim s_probeGate = new(1, 1);
    private static string? s_unreachable;
    private static bool s_probed;

    public static string Endpoints =>
        Environment.GetEnvironmentVariable("LINEUP_TEST_GARNET") is { Length: > 0 } env ? env : DefaultEndpoints;

    /// <summary>The seeds as (host, port) pairs.</summary>
    public static IReadOnlyList<(string Host, int Port)> Nodes => Parse(Endpoints);

    /// <summary>Skips (or on CI fails) when no seed answers or the cluster is not in state ok.</summary>
    public static async Task RequireAsync()
    {
        await s_probeGate.WaitAsync();
        try
        {
            if (!s_probed)
            {
                s_unreachable = await ProbeUntilAsync(s_probeFor);
                s_probed = true;
            }
        }
        finally
        {
            s_probeGate.Release();
        }

        if (s_unreachable is null)
        {
            return;
        }

        var message = $"The Garnet cluster is not usable at {Endpoints}: {s_unreachable} " +
            "(scripts/garnet-cluster.sh start DIR starts it; set LINEUP_TEST_GARNET to use another)";
        if (TestPaths.IsCi)
        {
            throw new InvalidOperationException("CI=true but " + message);
        }

        Skip.If(true, message);
    }

    /// <summary>A fresh key prefix on the shared cluster; its keys are deleted on dispose.</summary>
    public static async Task<GarnetTestKeys> CreateKeysAsync()
    {
        await RequireAsync();
        return new GarnetTestKeys(Endpoints, "lineup-test:" + Guid.NewGuid().ToString("N")[..16]);
    }

    internal static IReadOnlyList<(string Host, int Port)> Parse(string endpoints) =>
        endpoints.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(e =>
            {
                var colon = e.LastIndexOf(':');
                return (e[..colon], int.Parse(e[(colon + 1)..], System.Globalization.CultureInfo.InvariantCulture));
            })
            .ToArray();

    /// <summary>Deletes every key starting with <paramref name="prefix"/> on every reachable primary.</summary>
    public static async Task DeleteKeysAsync(string endpoints, string prefix)
    {
        foreach (var (host, port) in Parse(endpoints))
        {
            try
            {
                await using var node = await GarnetResp.ConnectAsync(host, port);
                var info = (string?)await node.SendAsync("INFO", "replication") ?? "";
                if (!info.Contains("role:master", StringComparison.Ordinal))
                {
                    continue;
                }

                var cursor = "0";
                do
                {
                    var page = (object?[])(await node.SendAsync("SCAN", cursor, "MATCH", prefix + "*", "COUNT", "1000"))!;
                    cursor = (string)page[0]!;
                    foreach (var key in (object?[])page[1]!)
                    {
                        await node.SendAsync("DEL", (string)key!);
                    }
                }
                while (cursor != "0");
            }
            catch (Exception ex) when (ex is System.Net.Sockets.SocketException or OperationCanceledException or IOException)
            {
                // A node that is down holds nothing a later test can see through this prefix.
            }
        }
    }

    private static async Task<string?> ProbeUntilAsync(TimeSpan within)
    {
        var deadline = DateTime.UtcNow + within;
        for (var attempt = 1; ; attempt++)
        {
            var problem = await ProbeAsync();
            // Off CI, nothing listening on any seed is a definite answer: there is no cluster to wait for.
            if (problem is null || DateTime.UtcNow >= deadline || (!TestPaths.IsCi && problem.Contains("refused", StringComparison.OrdinalIgnoreCase)))
            {
                return problem is null || attempt == 1 ? problem : $"{problem} ({attempt} attempts in {within.TotalSeconds:0} s)";
            }

            await Task.Delay(TimeSpan.FromSeconds(1));
        }
    }

    private static async Task<string?> ProbeAsync()
    {
        string? last = null;
        foreach (var (host, port) in Nodes)
        {
            try
            {
                var info = (string?)await GarnetResp.CallAsync(host, port, "CLUSTER", "INFO") ?? "";
                return info.Contains("cluster_state:ok", StringComparison.Ordinal)
                    ? null
                    : $"{host}:{port} reports {info.Split('\n').FirstOrDefault(l => l.StartsWith("cluster_state", StringComparison.Ordinal))?.Trim()}";
            }
            catch (Exception ex) when (ex is System.Net.Sockets.SocketException or OperationCanceledException or IOException or GarnetRespException)
            {
                last = $"{host}:{port}: {ex.Message}";
            }
        }

        return last ?? "no endpoints";
    }
}

/// <summary>One test's key prefix on the shared cluster; every key under it is deleted on dispose.</summary>
public sealed class GarnetTestKeys(string endpoints, string prefix) : IAsyncDisposable
{
    public string Endpoints { get; } = endpoints;

    public string Prefix { get; } = prefix;

    public ValueTask DisposeAsync() => new(GarnetTestCluster.DeleteKeysAsync(Endpoints, Prefix));
}
