using System.Text.Json;
using System.Xml.Linq;
using Lineup.Core.Network;
using Lineup.Storage;
using Lineup.TestSupport;

namespace Lineup.Cli.Tests;

/// <summary>
/// <c>lineup network</c> as real processes: cluster, status, identities, identity, edge (with its photo and page
/// evidence), path, export (GraphML), a correction kept by a full re-clustering; refusals exit 9 and are audited, an
/// unknown identity exits 3, bad options exit 2 naming the option.
/// </summary>
public sealed class NetworkCommandTests : IDisposable
{
    private const string Summit = "https://news.example.com/summit";
    private const string Inauguration = "https://news.example.com/inauguration";

    private readonly TempDirectory _dir = new("network-cli");

    public void Dispose() => _dir.Dispose();

    private string Data => _dir.Combine("data");

    private string[] Common => ["--data", Data, "--models", TestPaths.ModelCache, "--quiet"];

    private static readonly string[] s_query = ["--case", TestCases.Number, "--as", TestCases.Analyst];

    private async Task<CliResult> OkAsync(params string[] args)
    {
        var run = await CliProcess.RunAsync([.. Common, .. args]);
        Assert.True(run.ExitCode == ExitCodes.Ok, $"{string.Join(' ', args)}: exit {run.ExitCode}: {run.Stdout}{run.Stderr}");
        return run;
    }

    private async Task<JsonElement> JsonAsync(params string[] args)
    {
        using var document = JsonDocument.Parse((await OkAsync(args)).Stdout);
        return document.RootElement.Clone();
    }

    [SkippableFact]
    [Trait("Category", "Data")]
    public async Task Cluster_then_query_identities_the_evidence_of_an_edge_a_path_and_export_the_graph_as_GraphML()
    {
        TestPaths.RequireFaces();
        await TestPaths.ModelsAsync();

        // Obama and Biden: a photo of both (seen on one page), and a photo of each on another page.
        string[] rows =
        [
            $"{TestPaths.Face("face_recognition/groups/obama_and_biden.jpg")},{Summit}",
            $"{TestPaths.Face("face_recognition/images/Barack_Obama/obama.jpg")},",
            $"{TestPaths.Face("face_recognition/images/Barack_Obama/obama2.jpg")},{Inauguration}",
            $"{TestPaths.Face("faceaisharp/images/Barack_Obama/Barack_Obama_03.jpg")},",
            $"{TestPaths.Face("faceaisharp/images/Joseph_Biden/biden_7mpx.jpg")},",
            $"{TestPaths.Face("lfw_deepfunneled/images/Joseph_Biden/Joseph_Biden_0003.jpg")},",
            $"{TestPaths.Face("lfw_deepfunneled/images/Joseph_Biden/Joseph_Biden_0004.jpg")},{Inauguration}",
        ];
        var manifest = _dir.Combine("photos.csv");
        await File.WriteAllLinesAsync(manifest, ["path,page_url", .. rows]);
        await OkAsync("ingest", manifest, "--collection", "press", "--lawful-basis", "test", "--jurisdiction", "DE");
        await TestCases.PrepareCliAsync(Common);

        var never = await JsonAsync("network", "status", "--json");
        Assert.Equal(0, never.GetProperty("identities").GetInt32());
        Assert.Equal(JsonValueKind.Null, never.GetProperty("clusteredAt").ValueKind);

        var run = await JsonAsync("network", "cluster", "--json");
        Assert.True(run.GetProperty("full").GetBoolean());
        Assert.InRange(run.GetProperty("faces").GetInt32(), rows.Length + 1, 20);
        var status = await JsonAsync("network", "status", "--json");
        Assert.Equal(run.GetProperty("identities").GetInt32(), status.GetProperty("identities").GetInt32());

        // The two people are the two identities of three faces or more; which is which, their photos tell.
        var identities = (await JsonAsync(["network", "identities", .. s_query, "--min-faces", "3", "--json"])).GetProperty("identities").EnumerateArray().ToList();
        Assert.Equal(2, identities.Count);
        var ids = identities.Select(i => i.GetProperty("id").GetInt64()).ToList();
        var paths = new Dictionary<long, List<string>>();
        foreach (var id in ids)
        {
            var view = await JsonAsync(["network", "identity", $"{id}", .. s_query, "--json"]);
            Assert.Equal(id, view.GetProperty("identity").GetProperty("id").GetInt64());
            paths[id] = [.. view.GetProperty("faces").EnumerateArray().Select(f => f.GetProperty("originalPath").GetString()!)];
            Assert.Equal(paths[id].Count, view.GetProperty("timeline").GetArrayLength());
        }

        var obama = ids.Single(id => paths[id].Count(p => p.Contains("Obama", StringComparison.Ordinal)) >= 3);
        var biden = ids.Single(id => paths[id].Count(p => p.Contains("Biden", StringComparison.Ordinal)) >= 3);
        Assert.All(paths.Values, p => Assert.Contains(p, x => x.EndsWith("obama_and_biden.jpg", StringComparison.Ordinal)));

        // The edge: the photo of both (with its page), and the page with a photo of each.
        var edge = await JsonAsync(["network", "edge", $"{obama}", $"{biden}", .. s_query, "--json"]);
        Assert.Equal((1, 1), (edge.GetProperty("photos").GetInt32(), edge.GetProperty("pages").GetInt32()));
        var evidence = edge.GetProperty("evidence").EnumerateArray().ToList();
        var photo = Assert.Single(evidence, e => e.GetProperty("kind").GetString() == "photo");
        Assert.EndsWith("obama_and_biden.jpg", photo.GetProperty("image").GetProperty("originalPath").GetString(), StringComparison.Ordinal);
        Assert.Equal(Summit, photo.GetProperty("image").GetProperty("pageUrl").GetString());
        var page = Assert.Single(evidence, e => e.GetProperty("kind").GetString() == "page");
        Assert.Equal(Inauguration, page.GetProperty("pageUrl").GetString());
        Assert.Equal(
            ["Joseph_Biden_0004.jpg", "obama2.jpg"],
            new[] { page.GetProperty("image"), page.GetProperty("otherImage") }.Select(i => Path.GetFileName(i.GetProperty("originalPath").GetString()!)).Order(StringComparer.Ordinal));

        var path = await JsonAsync(["network", "path", $"{obama}", $"{biden}", .. s_query, "--json"]);
        Assert.True(path.GetProperty("found").GetBoolean());
        Assert.Equal([obama, biden], path.GetProperty("identities").EnumerateArray().Select(i => i.GetProperty("id").GetInt64()));

        // GraphML: well-formed, with both identities and the edge between them.
        var file = _dir.Combine("network.graphml");
        await OkAsync(["network", "export", .. s_query, "--format", "graphml", "--out", file]);
        var graphml = XDocument.Load(file);
        XNamespace ns = "http://graphml.graphdrawing.org/xmlns";
        var nodes = graphml.Descendants(ns + "node").Select(n => (string)n.Attribute("id")!).ToList();
        Assert.Contains($"i{obama}", nodes);
        Assert.Contains($"i{biden}", nodes);
        var (lo, hi) = obama < biden ? (obama, biden) : (biden, obama);
        Assert.Contains(graphml.Descendants(ns + "edge"), e => (string?)e.Attribute("source") == $"i{lo}" && (string?)e.Attribute("target") == $"i{hi}");

        // A correction through the CLI survives a full re-clustering.
        var named = await JsonAsync(["network", "name", $"{obama}", "Subject A", .. s_query, "--json"]);
        Assert.Equal("Subject A", named.GetProperty("label").GetString());
        await OkAsync("network", "cluster", "--full");
        var again = await JsonAsync(["network", "identity", $"{obama}", .. s_query, "--json"]);
        Assert.Equal("Subject A", again.GetProperty("identity").GetProperty("name").GetString());
        Assert.Equal(paths[obama].Count, again.GetProperty("faces").GetArrayLength());

        // Refused (exit 9, audited), unknown (exit 3), out of range (exit 2).
        var stranger = await CliProcess.RunAsync([.. Common, "network", "identities", "--case", TestCases.Number, "--as", "nobody"]);
        Assert.Equal(ExitCodes.Refused, stranger.ExitCode);
        Assert.Contains("unknown_user", stranger.Stderr, StringComparison.Ordinal);
        var noCase = await CliProcess.RunAsync([.. Common, "network", "associates", $"{obama}", "--case", "NO-SUCH-CASE", "--as", TestCases.Analyst]);
        Assert.Equal(ExitCodes.Refused, noCase.ExitCode);
        Assert.Contains("unknown_case", noCase.Stderr, StringComparison.Ordinal);
        var unknown = await CliProcess.RunAsync([.. Common, "network", "identity", "999999", .. s_query]);
        Assert.Equal(ExitCodes.NotFound, unknown.ExitCode);
        var far = await CliProcess.RunAsync([.. Common, "network", "associates", $"{obama}", .. s_query, "--hops", "3"]);
        Assert.Equal(ExitCodes.BadInput, far.ExitCode);
        Assert.Contains("--hops", far.Stderr, StringComparison.Ordinal);

        await using var catalog = await SqliteCatalog.OpenAsync(Path.Combine(Data, "catalog.db"), "m");
        var events = await catalog.ReadEventsAsync(1, 10_000);
        var queries = events.Where(e => e.Action == NetworkActions.Query).ToList();
        Assert.Contains(queries, e => e.Actor == "nobody" && e.Details["refusal"]?.Text == "unknown_user");
        Assert.Contains(queries, e => e.Actor == TestCases.Analyst && e.Details["refusal"]?.Text == "unknown_case" && e.Subject == $"identity:{obama}");
        Assert.Contains(queries, e => e.Actor == TestCases.Analyst && e.Subject == $"edge:{lo}-{hi}" && e.Details["case"]?.Text == TestCases.Number);
    }

    [Theory]
    [InlineData("--format", "network", "export", "--format", "png", "--out", "x.png")]
    [InlineData("--hops", "network", "associates", "1", "--hops", "0")]
    [InlineData("--hops", "network", "export", "--format", "gexf", "--out", "x.gexf", "--identity", "1", "--hops", "3")]
    [InlineData("--max-hops", "network", "path", "1", "2", "--max-hops", "5")]
    [InlineData("--faces", "network", "split", "1", "--faces", "1,two,3")]
    [InlineData("--faces", "network", "split", "1", "--faces", "4,4")]
    [InlineData("--limit", "network", "identities", "--limit", "0")]
    [InlineData("--case", "network", "communities", "--as", "someone")]
    [InlineData("--as", "network", "communities", "--case", "C-1")]
    public async Task Bad_options_exit_2_naming_the_option(string option, params string[] args)
    {
        string[] who = args.Contains("--case") || args.Contains("--as") ? [] : ["--case", "C-1", "--as", "someone"];
        var run = await CliProcess.RunAsync(["--data", Data, "--models", _dir.Combine("no-models"), .. args, .. who]);
        Assert.True(run.ExitCode == ExitCodes.BadInput, $"exit {run.ExitCode}: {run.Stdout}{run.Stderr}");
        Assert.Contains(option, run.Stderr, StringComparison.Ordinal);

        // Refused before anything was opened: no models fetched, no catalog created.
        Assert.False(Directory.Exists(_dir.Combine("no-models")));
        Assert.False(File.Exists(Path.Combine(Data, "catalog.db")));
    }
}
