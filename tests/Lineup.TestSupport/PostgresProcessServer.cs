using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Npgsql;
using Xunit;

namespace Lineup.TestSupport;

/// <summary>
/// A throwaway PostgreSQL server of the test's own, for crash tests (kill -9 the postmaster and every backend, start
/// again on the same data directory): <c>initdb</c> into a temporary directory, then <c>postgres</c> on a free loopback
/// port with its socket in that directory, never the shared server of <see cref="PostgresTestServer"/>. The binaries:
/// <c>LINEUP_POSTGRES_BIN</c>, else the newest <c>/usr/lib/postgresql/*/bin</c> (Debian's <c>postgresql</c> package,
/// which <c>.ci/run</c> installs); when none exists the test is skipped, or fails on CI. PostgreSQL refuses to run as
/// root, so under root (CI, the dev containers) the binaries run as the <c>postgres</c> user the package creates.
/// Dispose kills every process of the instance and deletes its directory.
/// </summary>
public sealed class PostgresProcessServer : IAsyncDisposable
{
    private const string Host = "127.0.0.1";
    private const string ServiceUser = "postgres";

    private static readonly TimeSpan s_startLimit = TimeSpan.FromSeconds(60);

    private readonly TempDirectory _directory = new("pgproc");
    private readonly string _bin;
    private readonly IReadOnlyDictionary<string, string> _settings;
    private Process? _launcher;
    private int _starts;

    private PostgresProcessServer(string bin, int port, IReadOnlyDictionary<string, string> settings)
    {
        _bin = bin;
        Port = port;
        _settings = settings;
    }

    public int Port { get; }

    /// <summary>The data directory (kept across <see cref="KillAsync"/> and <see cref="RestartAsync"/>).</summary>
    public string DataDirectory => _directory.Combine("data");

    /// <summary>Superuser <c>postgres</c> over TCP (trust authentication on loopback), database <c>postgres</c>.</summary>
    public string ConnectionString => new NpgsqlConnectionStringBuilder
    {
        Host = Host,
        Port = Port,
        Username = ServiceUser,
        Database = "postgres",
        Timeout = 5,
        CommandTimeout = 30,
    }.ConnectionString;

    /// <summary>The directory holding <c>initdb</c> and <c>postgres</c>; null when none is installed.</summary>
    public static string? BinDirectory
    {
        get
        {
            if (Environment.GetEnvironmentVariable("LINEUP_POSTGRES_BIN") is { Length: > 0 } env)
            {
                return HasServer(env) ? env : null;
            }

            const string Debian = "/usr/lib/postgresql";
            if (!Directory.Exists(Debian))
            {
                return null;
            }

            return Directory.GetDirectories(Debian)
                .Select(d => (Version: int.TryParse(Path.GetFileName(d), NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : -1, Bin: Path.Combine(d, "bin")))
                .Where(d => d.Version > 0 && HasServer(d.Bin))
                .OrderByDescending(d => d.Version)
                .Select(d => d.Bin)
                .FirstOrDefault();
        }
    }

    /// <summary>
    /// Creates the cluster and starts it. <paramref name="settings"/> are passed as <c>-c name=value</c> after the
    /// fixture's own (port, addresses, socket directory, a small footprint), so they can override them.
    /// </summary>
    public static async Task<PostgresProcessServer> StartAsync(IReadOnlyDictionary<string, string>? settings = null)
    {
        var bin = BinDirectory;
        string? missing = !OperatingSystem.IsLinux()
            ? "the PostgreSQL process fixture needs Linux (it finds the server's processes in /proc)"
            : bin is null
            ? "PostgreSQL server binaries are not installed (Debian's postgresql package puts them in /usr/lib/postgresql/<version>/bin; or set LINEUP_POSTGRES_BIN)"
            : Environment.IsPrivilegedProcess && !UserExists(ServiceUser)
                ? $"running as root, and PostgreSQL refuses to: the '{ServiceUser}' user to run it as does not exist"
                : null;
        if (missing is not null)
        {
            if (TestPaths.IsCi)
            {
                throw new InvalidOperationException("CI=true but " + missing);
            }

            Skip.If(true, missing);
        }

        var server = new PostgresProcessServer(bin!, FreePort(), settings ?? new Dictionary<string, string>());
        try
        {
            await server.InitAsync();
            await server.LaunchAsync();
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary>The postmaster's pid, from <c>postmaster.pid</c>; null when the file is missing or unreadable.</summary>
    public int? PostmasterPid
    {
        get
        {
            try
            {
                var first = File.ReadLines(Path.Combine(DataDirectory, "postmaster.pid")).FirstOrDefault();
                return int.TryParse(first, NumberStyles.Integer, CultureInfo.InvariantCulture, out var pid) ? pid : null;
            }
            catch (IOException)
            {
                return null;
            }
        }
    }

    /// <summary>
    /// kill -9 of the postmaster, then of every process it had forked (backends, WAL writer, checkpointer…): nothing
    /// of the server runs any more, as after a power cut of its processes, but the kernel keeps what they had written to
    /// their files. Returns once every one of them is gone and the port is free.
    /// </summary>
    public async Task KillAsync()
    {
        var processes = new List<int>();

        // Only a server this instance started and has not killed yet: after a kill, postmaster.pid names a dead pid that
        // may since belong to someone else's process.
        if (_launcher is not null && PostmasterPid is { } postmaster && IsAlive(postmaster) && IsPostgres(postmaster))
        {
            // Children first collected, then the postmaster killed first: it can neither fork a new backend nor start
            // crash recovery (which would stop the others itself) once its children go.
            var children = ChildrenOf(postmaster);
            Signal(postmaster);
            foreach (var child in children)
            {
                Signal(child);
            }

            processes.Add(postmaster);
            processes.AddRange(children);
        }

        if (_launcher is { } launcher)
        {
            if (!launcher.HasExited)
            {
                launcher.Kill(entireProcessTree: true);
            }

            await launcher.WaitForExitAsync();
            launcher.Dispose();
            _launcher = null;
        }

        var clock = Stopwatch.StartNew();
        while (processes.Any(IsAlive))
        {
            if (clock.Elapsed > TimeSpan.FromSeconds(30))
            {
                throw new TimeoutException($"PostgreSQL test server: processes {string.Join(", ", processes.Where(IsAlive))} still alive 30 s after SIGKILL.");
            }

            await Task.Delay(50);
        }
    }

    /// <summary>Starts the server again on the same data directory and port (after <see cref="KillAsync"/>: crash recovery).</summary>
    public async Task RestartAsync()
    {
        if (_launcher is not null)
        {
            throw new InvalidOperationException("The server is running; kill it first.");
        }

        await LaunchAsync();
    }

    /// <summary>The last lines of the server's log, for failure messages.</summary>
    public string LogTail(int lines = 20)
    {
        var log = _directory.Combine("server.log");
        try
        {
            return File.Exists(log) ? string.Join('\n', File.ReadLines(log).TakeLast(lines)) : "(no log)";
        }
        catch (IOException ex)
        {
            return $"(log unreadable: {ex.Message})";
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await KillAsync();
        }
        finally
        {
            _directory.Dispose();
        }
    }

    private static bool HasServer(string bin) => File.Exists(Path.Combine(bin, "initdb")) && File.Exists(Path.Combine(bin, "postgres"));

    private static bool UserExists(string name) =>
        File.Exists("/etc/passwd") && File.ReadLines("/etc/passwd").Any(l => l.StartsWith(name + ":", StringComparison.Ordinal));

    private static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    private static string Quote(string text) => "'" + text.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    /// <summary>A shell command line that runs <paramref name="command"/> as the service user when this process is root.</summary>
    private static string AsServiceUser(string command) =>
        Environment.IsPrivilegedProcess ? $"exec runuser -u {ServiceUser} -- {command}" : "exec " + command;

    private static ProcessStartInfo Shell(string commandLine, string workingDirectory)
    {
        var start = new ProcessStartInfo("/bin/sh") { UseShellExecute = false, WorkingDirectory = workingDirectory };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(commandLine);
        return start;
    }

    private async Task InitAsync()
    {
        // The service user creates the data directory itself (initdb wants it empty and its own); the temporary directory
        // above it is opened up for that, and the socket lives there too.
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("The PostgreSQL process fixture runs on Linux only.");
        }

        File.SetUnixFileMode(_directory.Path,
            UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute |
            UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute |
            UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute | UnixFileMode.StickyBit);

        // --no-sync only skips initdb's own fsync of the template files: the tests kill processes, not the machine, and
        // the page cache survives that. What the tests are about (WAL flushed at commit) is the server's setting.
        var initdb = Quote(Path.Combine(_bin, "initdb"));
        var command = AsServiceUser(
            $"{initdb} -D {Quote(DataDirectory)} --auth=trust --username={ServiceUser} --encoding=UTF8 --locale=C --no-sync") +
            $" > {Quote(_directory.Combine("initdb.log"))} 2>&1";
        using var process = Process.Start(Shell(command, _directory.Path)) ?? throw new InvalidOperationException("initdb did not start.");
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);
        if (process.ExitCode != 0)
        {
            var log = _directory.Combine("initdb.log");
            throw new InvalidOperationException(
                $"initdb exited with {process.ExitCode}: {(File.Exists(log) ? await File.ReadAllTextAsync(log) : "(no log)")}");
        }
    }

    private async Task LaunchAsync()
    {
        var arguments = new Dictionary<string, string>
        {
            ["port"] = Port.ToString(CultureInfo.InvariantCulture),
            ["listen_addresses"] = Host,
            ["unix_socket_directories"] = _directory.Path,
            ["shared_buffers"] = "16MB",
            ["max_connections"] = "50",
            ["logging_collector"] = "off",
        };
        foreach (var (name, value) in _settings)
        {
            arguments[name] = value;
        }

        var postgres = Quote(Path.Combine(_bin, "postgres"));
        var options = string.Join(' ', arguments.Select(a => "-c " + Quote($"{a.Key}={a.Value}")));
        var command = AsServiceUser($"{postgres} -D {Quote(DataDirectory)} {options}") + $" >> {Quote(_directory.Combine("server.log"))} 2>&1";
        _launcher = Process.Start(Shell(command, _directory.Path)) ?? throw new InvalidOperationException("postgres did not start.");
        _starts++;

        var probe = new NpgsqlConnectionStringBuilder(ConnectionString) { Pooling = false, Timeout = 2 }.ConnectionString;
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (_launcher.HasExited)
            {
                throw new InvalidOperationException($"postgres (start {_starts}) exited with {_launcher.ExitCode}:\n{LogTail()}");
            }

            try
            {
                await using var connection = new NpgsqlConnection(probe);
                await connection.OpenAsync();
                return;
            }
            catch (Exception ex) when (ex is NpgsqlException or TimeoutException or SocketException)
            {
                // Not listening yet, or still in crash recovery ("the database system is starting up").
            }

            if (clock.Elapsed > s_startLimit)
            {
                throw new TimeoutException($"postgres (start {_starts}) did not accept connections within {s_startLimit.TotalSeconds:0} s:\n{LogTail()}");
            }

            await Task.Delay(100);
        }
    }

    /// <summary>Live (not zombie) processes whose parent is <paramref name="parent"/>, from <c>/proc</c>.</summary>
    private static List<int> ChildrenOf(int parent)
    {
        var children = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.Integer, CultureInfo.InvariantCulture, out var pid))
            {
                continue;
            }

            if (Stat(pid) is { } stat && stat.Parent == parent && stat.State != 'Z')
            {
                children.Add(pid);
            }
        }

        return children;
    }

    /// <summary>State and parent pid from <c>/proc/pid/stat</c> ("pid (comm) S ppid …"; comm may hold spaces and parentheses).</summary>
    private static (char State, int Parent)? Stat(int pid)
    {
        string text;
        try
        {
            text = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }

        var fields = text[(text.LastIndexOf(')') + 2)..].Split(' ');
        return fields.Length > 1 && int.TryParse(fields[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out var parent)
            ? (fields[0][0], parent)
            : null;
    }

    private static bool IsPostgres(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/comm").Trim() is "postgres";
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>A zombie counts as dead: it holds no files, sockets or shared memory any more.</summary>
    private static bool IsAlive(int pid) => Stat(pid) is { } stat && stat.State != 'Z';

    private static void Signal(int pid)
    {
        try
        {
            // Process.Kill sends SIGKILL on Unix, to any process this one may signal (root, or the same user).
            using var process = Process.GetProcessById(pid);
            process.Kill();
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            // Already gone.
        }
    }
}
