using System.ComponentModel.DataAnnotations;
using Lineup.Hosting;
using Lineup.TestSupport;

namespace Lineup.Cli.Tests;

/// <summary>
/// Bad settings of the distributed backend, and distributed-only commands run on the embedded backend: each is refused
/// with a message naming the setting or command, exit code 2 from the command line, and before anything is opened or
/// created (no data directory, no catalog, no collection). None of these needs a server or the models: the point is that
/// nothing gets that far.
/// </summary>
public sealed class DistributedBadInputTests : IDisposable
{
    /// <summary>Valid everywhere the tests do not say otherwise; nothing listens on these ports.</summary>
    private const string Postgres = "Host=127.0.0.1;Port=1;Username=nobody;Password=none;Database=none";
    private const string Garnet = "127.0.0.1:1,127.0.0.1:2";

    private readonly TempDirectory _dir = new("distributed-bad-input");

    public void Dispose() => _dir.Dispose();

    private string Data => _dir.Combine("data");

    private static LineupOptions Distributed(Action<DistributedSettings>? change = null)
    {
        var options = new LineupOptions { Backend = "distributed", Distributed = new DistributedSettings { Postgres = Postgres, Garnet = Garnet } };
        change?.Invoke(options.Distributed);
        return options;
    }

    private static string Refused(LineupOptions options) => Assert.Throws<ValidationException>(options.Validate).Message;

    [Theory]
    [InlineData("sqlite")]
    [InlineData("")]
    [InlineData(" distributed")]
    [InlineData("distributed,embedded")]
    public void A_backend_other_than_embedded_or_distributed_is_refused_naming_it(string backend)
    {
        var message = Refused(new LineupOptions { Backend = backend });
        Assert.Equal($"Lineup:Backend must be embedded or distributed, not '{backend}'.", message);
    }

    [Theory]
    [InlineData("embedded")]
    [InlineData("Embedded")]
    [InlineData("DISTRIBUTED")]
    public void Both_backends_are_named_ignoring_case(string backend)
    {
        var options = Distributed();
        options.Backend = backend;
        options.Validate();
        Assert.Equal(backend.Equals("distributed", StringComparison.OrdinalIgnoreCase), options.IsDistributed);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("   ")]
    public void Distributed_without_a_PostgreSQL_connection_string_is_refused_naming_the_setting(string? postgres)
    {
        var message = Refused(Distributed(d => d.Postgres = postgres));
        Assert.Contains("Lineup:Distributed:Postgres", message, StringComparison.Ordinal);
        Assert.Contains("is not set", message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("   ")]
    public void Distributed_without_Garnet_nodes_is_refused_naming_the_setting(string? garnet)
    {
        var message = Refused(Distributed(d => d.Garnet = garnet));
        Assert.Contains("Lineup:Distributed:Garnet", message, StringComparison.Ordinal);
        Assert.Contains("is not set", message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(",", "names no node")]
    [InlineData(" , ,", "names no node")]
    [InlineData("127.0.0.1", "'127.0.0.1' is not host:port")]
    [InlineData("127.0.0.1:7000,127.0.0.1:notaport", "'127.0.0.1:notaport' is not host:port")]
    [InlineData("127.0.0.1:0", "'127.0.0.1:0' is not host:port")]
    [InlineData("127.0.0.1:65536", "'127.0.0.1:65536' is not host:port")]
    [InlineData(":7000", "':7000' is not host:port")]
    [InlineData("127.0.0.1:-7000", "'127.0.0.1:-7000' is not host:port")]
    public void A_Garnet_list_that_does_not_parse_is_refused_naming_the_node(string garnet, string expected)
    {
        var message = Refused(Distributed(d => d.Garnet = garnet));
        Assert.StartsWith("Lineup:Distributed:Garnet", message, StringComparison.Ordinal);
        Assert.Contains(expected, message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("127.0.0.1:7000")]
    [InlineData(" 127.0.0.1:7000 , garnet-2.internal:7001,")]
    [InlineData("[::1]:7000")]
    public void A_Garnet_list_of_host_port_pairs_is_accepted(string garnet) => Distributed(d => d.Garnet = garnet).Validate();

    [Theory]
    [InlineData("Shards", 0)]
    [InlineData("Shards", 1025)]
    [InlineData("LeaseSeconds", 4)]
    [InlineData("LeaseSeconds", 3601)]
    [InlineData("ClaimBatch", 0)]
    [InlineData("ClaimBatch", 1025)]
    public void A_distributed_number_out_of_range_is_refused_naming_the_setting(string setting, int value)
    {
        var options = Distributed(d => typeof(DistributedSettings).GetProperty(setting)!.SetValue(d, value));
        var message = Refused(options);
        Assert.StartsWith($"Lineup:Distributed:{setting}: ", message, StringComparison.Ordinal);
        Assert.Contains("must be between", message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Shards", 1)]
    [InlineData("Shards", 1024)]
    [InlineData("LeaseSeconds", 5)]
    [InlineData("LeaseSeconds", 3600)]
    [InlineData("ClaimBatch", 1)]
    [InlineData("ClaimBatch", 1024)]
    public void The_ends_of_each_distributed_range_are_accepted(string setting, int value) =>
        Distributed(d => typeof(DistributedSettings).GetProperty(setting)!.SetValue(d, value)).Validate();

    [Theory]
    [InlineData("", "Lineup:Distributed:KeyPrefix: ")]
    [InlineData("  ", "Lineup:Distributed:KeyPrefix: ")]
    [InlineData("lineup:{faces}", "Lineup:Distributed:KeyPrefix 'lineup:{faces}' may not contain")]
    [InlineData("a}b", "Lineup:Distributed:KeyPrefix 'a}b' may not contain")]
    public void A_key_prefix_that_cannot_make_shard_keys_is_refused_naming_the_setting(string prefix, string expected)
    {
        var message = Refused(Distributed(d => d.KeyPrefix = prefix));
        Assert.StartsWith(expected, message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_embedded_backend_does_not_judge_the_distributed_settings_it_does_not_use()
    {
        var options = Distributed(d =>
        {
            d.Postgres = null;
            d.Garnet = "nonsense";
            d.LeaseSeconds = 0;
        });
        options.Backend = "embedded";
        options.Validate();
    }

    [Fact]
    public void Other_sections_name_their_setting_by_its_path()
    {
        Assert.StartsWith("Lineup:Workers: ", Refused(new LineupOptions { Workers = 0 }), StringComparison.Ordinal);
        Assert.StartsWith("Lineup:Index:Connectivity: ", Refused(new LineupOptions { Index = new IndexSettings { Connectivity = 2 } }), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("sqlite")]
    [InlineData("distributed")]
    public async Task The_engine_refuses_bad_backend_settings_before_creating_anything(string backend)
    {
        var options = new LineupOptions { DataDirectory = Data, ModelsDirectory = _dir.Combine("models"), Backend = backend };
        var ex = await Assert.ThrowsAsync<ValidationException>(() => LineupEngine.OpenAsync(options));
        Assert.Contains("Lineup:", ex.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<ValidationException>(() => LineupEngine.OpenCatalogAsync(options));
        Assert.False(Directory.Exists(Data), "a data directory was created for refused settings");
        Assert.False(Directory.Exists(_dir.Combine("models")), "a model cache was created for refused settings");
    }

    [Theory]
    [InlineData("Lineup:Backend must be embedded or distributed, not 'sqlite'.", "--backend", "sqlite", "stats")]
    [InlineData("Lineup:Distributed:Postgres", "--backend", "distributed", "--garnet", Garnet, "stats")]
    [InlineData("Lineup:Distributed:Garnet", "--backend", "distributed", "--postgres", Postgres, "stats")]
    [InlineData("Lineup:Distributed:Garnet: '127.0.0.1:notaport' is not host:port", "--backend", "distributed", "--postgres", Postgres, "--garnet", "127.0.0.1:notaport", "stats")]
    [InlineData("Lineup:Distributed:LeaseSeconds: ", "--backend", "distributed", "--postgres", Postgres, "--garnet", Garnet, "worker", "--lease", "2")]
    [InlineData("Lineup:Distributed:LeaseSeconds: ", "--backend", "distributed", "--postgres", Postgres, "--garnet", Garnet, "worker", "--lease", "3601")]
    [InlineData("Lineup:Workers: ", "--backend", "distributed", "--postgres", Postgres, "--garnet", Garnet, "worker", "--workers", "0")]
    public async Task The_command_line_exits_2_naming_the_bad_setting_and_creates_nothing(string expected, params string[] args)
    {
        var result = await CliProcess.RunAsync(["--data", Data, "--models", _dir.Combine("models"), .. args]);
        Assert.True(result.ExitCode == ExitCodes.BadInput, $"exit {result.ExitCode}: {result.Stderr}{result.Stdout}");
        Assert.Contains(expected, result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", result.Stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Data), "a data directory was created for refused settings");
    }

    [Theory]
    [InlineData("workers need the distributed backend", "worker")]
    [InlineData("workers need the distributed backend", "worker", "--until-idle", "--name", "w1")]
    [InlineData("cluster status needs the distributed backend", "cluster", "status")]
    [InlineData("cluster status needs the distributed backend", "cluster", "status", "--json")]
    [InlineData("cluster failover needs the distributed backend", "cluster", "failover", "--shard", "0")]
    [InlineData("cluster repopulate needs the distributed backend", "cluster", "repopulate", "--shard", "0")]
    public async Task A_distributed_only_command_on_the_embedded_backend_exits_2_and_creates_nothing(string expected, params string[] args)
    {
        foreach (var backend in new[] { null, "embedded" })
        {
            string[] select = backend is null ? [] : ["--backend", backend];
            var result = await CliProcess.RunAsync(["--data", Data, "--models", _dir.Combine("models"), .. select, .. args]);
            Assert.True(result.ExitCode == ExitCodes.BadInput, $"exit {result.ExitCode}: {result.Stderr}{result.Stdout}");
            Assert.Contains(expected, result.Stderr, StringComparison.Ordinal);
            Assert.Contains("--backend distributed", result.Stderr, StringComparison.Ordinal);
            Assert.DoesNotContain("Unhandled exception", result.Stderr, StringComparison.Ordinal);
            Assert.Equal("", result.Stdout);
            Assert.False(Directory.Exists(Data), "a data directory (catalog, index) was created for a refused command");
        }
    }

    [Fact]
    public async Task Ingest_queue_on_the_embedded_backend_exits_2_before_creating_the_catalog_or_the_collection()
    {
        var photos = _dir.Combine("photos");
        Directory.CreateDirectory(photos);
        await File.WriteAllBytesAsync(Path.Combine(photos, "a.jpg"), TestImages.Jpeg(64, 48));
        var result = await CliProcess.RunAsync(
            ["--data", Data, "--models", _dir.Combine("models"), "ingest", photos, "--queue", "--collection", "c", "--lawful-basis", "test", "--jurisdiction", "DE"]);
        Assert.True(result.ExitCode == ExitCodes.BadInput, $"exit {result.ExitCode}: {result.Stderr}{result.Stdout}");
        Assert.Contains("--queue needs the distributed backend", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", result.Stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Data), "the embedded catalog (and its collection) was created for a refused --queue");
        Assert.True(File.Exists(Path.Combine(photos, "a.jpg")));
    }

    [Fact]
    public async Task Ingest_queue_with_resume_exits_2_naming_both_options()
    {
        var result = await CliProcess.RunAsync(
            ["--data", Data, "--models", _dir.Combine("models"), "--backend", "distributed", "--postgres", Postgres, "--garnet", Garnet,
             "ingest", "--queue", "--resume", "1"]);
        Assert.True(result.ExitCode == ExitCodes.BadInput, $"exit {result.ExitCode}: {result.Stderr}{result.Stdout}");
        Assert.Contains("--queue", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("--resume", result.Stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Data));
    }

    [Fact]
    public async Task Bench_workers_pinned_to_more_cpus_than_there_are_exits_2_before_queueing_anything()
    {
        var photos = _dir.Combine("photos");
        Directory.CreateDirectory(photos);
        var counts = $"1,{Environment.ProcessorCount + 1}";
        var result = await CliProcess.RunAsync(
            ["--data", Data, "--models", _dir.Combine("models"), "--backend", "distributed", "--postgres", Postgres, "--garnet", Garnet,
             "bench", "workers", photos, "--workers", counts, "--pin"]);
        Assert.True(result.ExitCode == ExitCodes.BadInput, $"exit {result.ExitCode}: {result.Stderr}{result.Stdout}");
        Assert.Contains("--pin needs", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", result.Stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Data));
    }

    [SkippableFact]
    public async Task An_unreachable_garnet_cluster_is_one_line_naming_the_nodes_and_exit_1()
    {
        await using var schema = await PostgresTestServer.CreateSchemaAsync();
        var result = await CliProcess.RunAsync(
            ["--data", Data, "--models", TestPaths.ModelCache, "--backend", "distributed", "--postgres", schema.ConnectionString, "--garnet", "127.0.0.1:1",
             "stats"]);
        Assert.True(result.ExitCode == ExitCodes.Error, $"exit {result.ExitCode}: {result.Stderr}{result.Stdout}");
        Assert.Contains("lineup: vector index: No Garnet node answered at 127.0.0.1:1", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", result.Stderr, StringComparison.Ordinal);
    }
}
