using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Xunit;

namespace Lineup.TestSupport;

/// <summary>One garnet-server process of a <see cref="GarnetProcessCluster"/>.</summary>
public sealed record GarnetProcessNode(int Port, bool IsPrimary, int PrimaryPort, int FirstSlot, int LastSlot)
{
    public string Endpoint => $"127.0.0.1:{Port}";
}

/// <summary>
/// A throwaway Garnet cluster of real garnet-server processes on free ports, for fault tests (kill -9 a primary, promote
/// its replica). The binary: <c>LINEUP_GARNET_SERVER</c>, else <c>&lt;repo&gt;/.cache/garnet/garnet-server</c> (where
/// <c>scripts/garnet-cluster.sh</c> installs it), else <c>/tmp/garnet/garnet-server</c>; when none exists the test is
/// skipped, or fails on CI. Primary i owns the i-th equal part of the slots; the cluster is formed with plain cluster
/// commands (ADDSLOTSRANGE, MEET, REPLICATE) and returned once every node says <c>cluster_state:ok</c> and every replica's
/// link is up. Dispose kills every process and deletes the data.
/// </summary>
public sealed class GarnetProcessCluster : IAsyncDisposable
{
    private const string Host = "127.0.0.1";
    private const int SlotCount = 16384;

    private readonly TempDirectory _directory = new("garnet");
    private readonly Dictionary<int, Process> _processes = [];
    private readonly List<GarnetProcessNode> _nodes = [];

    private GarnetProcessCluster()
    {
    }

    public IReadOnlyList<GarnetProcessNode> Nodes => _nodes;

    public IEnumerable<GarnetProcessNode> Primaries => _nodes.Where(n => n.IsPrimary);

    /// <summary>Every node as comma-separated seeds, for the index options.</summary>
    public string Endpoints => string.Join(',', _nodes.Select(n => n.Endpoint));

    /// <summary>The garnet-server binary the fixture would start; null when none is installed.</summary>
    public static string? ServerBinary
    {
        get
        {
            if (Environment.GetEnvironmentVariable("LINEUP_GARNET_SERVER") is { Length: > 0 } env)
            {
                return File.Exists(env) ? env : null;
            }

            string[] candidates = [Path.Combine(TestPaths.RepoRoot, ".cache", "garnet", "garnet-server"), "/tmp/garnet/garnet-server"];
            return candidates.FirstOrDefault(File.Exists);
        }
    }

    public static async Task<GarnetProcessCluster> StartAsync(int primaries = 3, int replicasPerPrimary = 1)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(primaries, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(replicasPerPrimary);
        var binary = ServerBinary;
        if (binary is null)
        {
            const string Message = "garnet-server is not installed (scripts/garnet-cluster.sh installs it into .cache/garnet; or set LINEUP_GARNET_SERVER)";
            if (TestPaths.IsCi)
            {
                throw new InvalidOperationException("CI=true but " + Message);
            }

            Skip.If(true, Message);
        }

        var cluster = new GarnetProcessCluster();
        try
        {
            var ports = FreePorts(primaries * (1 + replicasPerPrimary));
            for (var p = 0; p < primaries; p++)
            {
                var first = p * SlotCount / primaries;
                var last = ((p + 1) * SlotCount / primaries) - 1;
                cluster._nodes.Add(new GarnetProcessNode(ports[p], true, ports[p], first, last));
                for (var r = 0; r < replicasPerPrimary; r++)
                {
                    cluster._nodes.Add(new GarnetProcessNode(ports[primaries + (p * replicasPerPrimary) + r], false, ports[p], first, last));
                }
            }

            foreach (var node in cluster._nodes)
            {
                cluster.Launch(binary!, node.Port);
            }

            await cluster.FormAsync();
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    /// <summary>The node that owns <paramref name="slot"/> at start.</summary>
    public GarnetProcessNode PrimaryOfSlot(int slot) => Primaries.Single(n => n.FirstSlot <= slot && slot <= n.LastSlot);

    /// <summary>The first replica of the primary on <paramref name="primaryPort"/>.</summary>
    public GarnetProcessNode ReplicaOf(int primaryPort) => _nodes.First(n => !n.IsPrimary && n.PrimaryPort == primaryPort);

    public bool IsRunning(int port) => _processes.TryGetValue(port, out var process) && !process.HasExited;

    /// <summary>kill -9 of the primary on <paramref name="port"/>: no shutdown, no goodbye to the cluster.</summary>
    public Task KillPrimaryAsync(int port)
    {
        if (!Primaries.Any(n => n.Port == port))
        {
            throw new ArgumentException($"Port {port} is not one of the primaries ({string.Join(", ", Primaries.Select(n => n.Port))}).", nameof(port));
        }

        return KillAsync(port);
    }

    /// <summary>kill -9 of any node.</summary>
    public async Task KillAsync(int port)
    {
        var process = _processes[port];
        if (!process.HasExited)
        {
            // Process.Kill sends SIGKILL on Unix.
            process.Kill();
            await process.WaitForExitAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var process in _processes.Values)
        {
            try
            {
                if (!process.HasExited)
                {
                    process.Kill();
                    await process.WaitForExitAsync();
                }
            }
            catch (InvalidOperationException)
            {
                // Never started.
            }

            process.Dispose();
        }

        _directory.Dispose();
    }

    private static int[] FreePorts(int count)
    {
        // All listeners are held open together so the ports are distinct; the OS does not hand them out again at once.
        var listeners = Enumerable.Range(0, count).Select(_ =>
        {
            var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            return listener;
        }).ToList();
        var ports = listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port).ToArray();
        listeners.ForEach(l => l.Stop());
        return ports;
    }

    private void Launch(string binary, int port)
    {
        var data = _directory.Combine($"node-{port}");
        Directory.CreateDirectory(Path.Combine(data, "checkpoints"));

        // exec: the shell becomes garnet-server, so the pid killed is the server's; output goes to a file, not a pipe
        // nobody drains.
        var command = $"exec '{binary}' --bind {Host} --port {port.ToString(CultureInfo.InvariantCulture)} --cluster " +
            $"--enable-vector-set-preview --device-type RandomAccess --checkpointdir '{data}/checkpoints' --aof --lua false --replica-sync-delay 100 " +
            $"> '{data}/garnet.log' 2>&1";
        var start = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(command);
        _processes[port] = Process.Start(start) ?? throw new InvalidOperationException($"garnet-server on port {port} did not start.");
    }

    private async Task FormAsync()
    {
        await WaitAsync("every node to answer PING", TimeSpan.FromSeconds(60), async () =>
        {
            foreach (var node in _nodes)
            {
                if (!IsRunning(node.Port))
                {
                    throw new InvalidOperationException(
                        $"garnet-server on port {node.Port} exited: {LogTail(node.Port)}");
                }

                if (!await AnswersAsync(node.Port))
                {
                    return false;
                }
            }

            return true;
        });

        foreach (var node in Primaries)
        {
            await CallAsync(node.Port, "CLUSTER", "ADDSLOTSRANGE", node.FirstSlot.ToString(CultureInfo.InvariantCulture),
                node.LastSlot.ToString(CultureInfo.InvariantCulture));
        }

        var seed = _nodes[0].Port.ToString(CultureInfo.InvariantCulture);
        foreach (var node in _nodes.Skip(1))
        {
            await CallAsync(node.Port, "CLUSTER", "MEET", Host, seed);
        }

        await WaitAsync("the nodes to meet", TimeSpan.FromSeconds(60), async () =>
        {
            foreach (var node in _nodes)
            {
                var nodes = (string)(await CallAsync(node.Port, "CLUSTER", "NODES"))!;
                if (nodes.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length < _nodes.Count)
                {
                    return false;
                }
            }

            return true;
        });

        foreach (var replica in _nodes.Where(n => !n.IsPrimary))
        {
            var primaryId = (string)(await CallAsync(replica.PrimaryPort, "CLUSTER", "MYID"))!;
            await CallAsync(replica.Port, "CLUSTER", "REPLICATE", primaryId);
        }

        await WaitAsync("cluster_state:ok and replicas in sync", TimeSpan.FromSeconds(90), async () =>
        {
            foreach (var node in _nodes)
            {
                var info = (string)(await CallAsync(node.Port, "CLUSTER", "INFO"))!;
                if (!info.Contains("cluster_state:ok", StringComparison.Ordinal))
                {
                    return false;
                }

                if (!node.IsPrimary)
                {
                    var replication = (string)(await CallAsync(node.Port, "INFO", "replication"))!;
                    if (!replication.Contains("master_link_status:up", StringComparison.Ordinal))
                    {
                        return false;
                    }
                }
            }

            return true;
        });
    }

    private static Task<object?> CallAsync(int port, params string[] args) => GarnetResp.CallAsync(Host, port, args);

    private static async Task<bool> AnswersAsync(int port)
    {
        try
        {
            return (string?)await CallAsync(port, "PING") == "PONG";
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException or IOException)
        {
            return false;
        }
    }

    private string LogTail(int port)
    {
        var log = _directory.Combine($"node-{port}", "garnet.log");
        return File.Exists(log) ? string.Join('\n', File.ReadLines(log).TakeLast(10)) : "(no log)";
    }

    private static async Task WaitAsync(string what, TimeSpan limit, Func<Task<bool>> done)
    {
        var clock = Stopwatch.StartNew();
        while (!await done())
        {
            if (clock.Elapsed > limit)
            {
                throw new TimeoutException($"Garnet test cluster: timed out after {limit.TotalSeconds:F0} s waiting for {what}.");
            }

            await Task.Delay(250);
        }
    }
}
