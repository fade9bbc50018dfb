using System.Text.Json;
using Lineup.Core.Catalog;
using Lineup.Storage;
using Lineup.TestSupport;

namespace Lineup.Cli.Tests;

/// <summary>
/// <c>lineup search</c> as an analyst meets it: calibrated candidates, filters applied inside the index, the probe
/// quality floor and its recorded override, and every kind of bad probe with its own message and exit code.
/// </summary>
[Trait("Category", "Data")]
public sealed class SearchCommandTests : IAsyncLifetime
{
    private const string Probe = "lfw_deepfunneled/images/Tiger_Woods/Tiger_Woods_0002.jpg";
    private readonly TempDirectory _dir = new("search-cli");
    private string[] _common = [];

    public async Task InitializeAsync()
    {
        TestPaths.RequireFaces();
        await TestPaths.ModelsAsync();
        _common = ["--data", _dir.Combine("data"), "--models", TestPaths.ModelCache, "--quiet"];

        // Two collections in two jurisdictions, seen on different hosts at different times (manifest provenance).
        foreach (var (collection, jurisdiction, rows) in new[]
        {
            ("press", "DE", new[]
            {
                $"{TestPaths.Face("lfw_deepfunneled/images/Tiger_Woods/Tiger_Woods_0001.jpg")},https://img.news.example.com/a.jpg,https://news.example.com/story,2020-05-01",
                $"{TestPaths.Face("lfw_deepfunneled/images/Nicole_Kidman/Nicole_Kidman_0001.jpg")},https://img.news.example.com/b.jpg,https://news.example.com/story,2020-05-01",
            }),
            ("web", "US-IL", new[]
            {
                $"{TestPaths.Face("lfw_deepfunneled/images/Tiger_Woods/Tiger_Woods_0003.jpg")},https://photos.other.org/t.jpg,https://other.org/page,2023-01-10",
            }),
        })
        {
            var manifest = _dir.Combine($"{collection}.csv");
            await File.WriteAllLinesAsync(manifest, ["path,source_url,page_url,captured_at", .. rows]);
            var ingest = await CliProcess.RunAsync([.. _common, "ingest", manifest, "--collection", collection, "--lawful-basis", "test", "--jurisdiction", jurisdiction]);
            Assert.True(ingest.ExitCode == ExitCodes.Ok, ingest.Stderr);
        }

        await TestCases.PrepareCliAsync(_common);
    }

    public Task DisposeAsync()
    {
        _dir.Dispose();
        return Task.CompletedTask;
    }

    private async Task<JsonDocument> SearchJsonAsync(params string[] args)
    {
        var run = await CliProcess.RunAsync([.. _common, "search", TestPaths.Face(Probe), .. TestCases.CliSearch, "--json", .. args]);
        Assert.True(run.ExitCode == ExitCodes.Ok, run.Stderr);
        return JsonDocument.Parse(run.Stdout);
    }

    private static string[] Sources(JsonDocument json) =>
        json.RootElement.GetProperty("candidates").EnumerateArray()
            .Select(c => c.GetProperty("image").GetProperty("provenance").GetProperty("sourceUrl").GetString()!).Distinct().Order(StringComparer.Ordinal).ToArray();

    [SkippableFact]
    public async Task Candidates_carry_the_estimated_false_match_rate_and_the_expected_false_candidates_for_the_faces_searched()
    {
        using var json = await SearchJsonAsync("--top", "3");
        var root = json.RootElement;
        // Four gallery faces: Tiger_Woods_0003 shows a second person behind him.
        Assert.Equal(4, root.GetProperty("gallerySize").GetInt64());
        Assert.Equal(4, root.GetProperty("searchedFaces").GetInt64());
        Assert.Equal("Candidates", root.GetProperty("outcome").GetString());
        Assert.True(root.GetProperty("searchId").GetInt64() > 0);
        Assert.Equal("the only face", root.GetProperty("faceChoice").GetString());
        Assert.True(root.GetProperty("probeFaces")[0].GetProperty("quality").GetProperty("score").GetSingle() > 0);

        var candidates = root.GetProperty("candidates").EnumerateArray().ToList();
        Assert.Contains(
            candidates[0].GetProperty("image").GetProperty("provenance").GetProperty("sourceUrl").GetString(),
            new[] { "https://img.news.example.com/a.jpg", "https://photos.other.org/t.jpg" });
        double? previous = null;
        foreach (var c in candidates)
        {
            var fmr = c.GetProperty("estimatedFmr").GetDouble();
            Assert.InRange(fmr, double.Epsilon, 1);
            Assert.Equal(fmr * 4, c.GetProperty("expectedFalseCandidates").GetDouble(), 12);
            Assert.True(previous is null || fmr >= previous, "a lower similarity never has a lower FMR");
            previous = fmr;
        }

        // The mate is far above the threshold: its FMR is tiny, a different person's is not.
        Assert.True(candidates[0].GetProperty("estimatedFmr").GetDouble() < 1e-4);
        Assert.True(candidates[^1].GetProperty("estimatedFmr").GetDouble() > 1e-3);
    }

    [SkippableFact]
    public async Task Filters_by_collection_jurisdiction_domain_and_capture_date_restrict_the_gallery_searched()
    {
        using (var web = await SearchJsonAsync("--collection", "web"))
        {
            Assert.Equal(["https://photos.other.org/t.jpg"], Sources(web));
            Assert.Equal(2, web.RootElement.GetProperty("searchedFaces").GetInt64());
            Assert.Contains("web", web.RootElement.GetProperty("filter").GetString(), StringComparison.Ordinal);
        }

        using (var de = await SearchJsonAsync("--jurisdiction", "DE", "--top", "5"))
        {
            Assert.Equal(["https://img.news.example.com/a.jpg", "https://img.news.example.com/b.jpg"], Sources(de));
        }

        using (var us = await SearchJsonAsync("--jurisdiction", "US"))
        {
            Assert.Equal(["https://photos.other.org/t.jpg"], Sources(us));
        }

        using (var domain = await SearchJsonAsync("--domain", "example.com", "--top", "5"))
        {
            Assert.All(Sources(domain), s => Assert.StartsWith("https://img.news.example.com/", s, StringComparison.Ordinal));
            Assert.Equal(2, Sources(domain).Length);
        }

        using (var recent = await SearchJsonAsync("--captured-from", "2022-01-01", "--top", "5"))
        {
            Assert.Equal(["https://photos.other.org/t.jpg"], Sources(recent));
        }

        using (var day = await SearchJsonAsync("--captured-from", "2020-05-01", "--captured-to", "2020-05-01", "--top", "5"))
        {
            Assert.Equal(2, Sources(day).Length);
        }

        using (var none = await SearchJsonAsync("--domain", "nowhere.test"))
        {
            Assert.Empty(Sources(none));
            Assert.Equal("NoCandidateAboveThreshold", none.RootElement.GetProperty("outcome").GetString());
        }

        var unknown = await CliProcess.RunAsync([.. _common, "search", TestPaths.Face(Probe), .. TestCases.CliSearch, "--collection", "archive"]);
        Assert.Equal(ExitCodes.BadInput, unknown.ExitCode);
        Assert.Contains("archive", unknown.Stderr, StringComparison.Ordinal);

        var badDomain = await CliProcess.RunAsync([.. _common, "search", TestPaths.Face(Probe), .. TestCases.CliSearch, "--domain", "https://example.com/page"]);
        Assert.Equal(ExitCodes.BadInput, badDomain.ExitCode);
        Assert.Contains("https://example.com/page", badDomain.Stderr, StringComparison.Ordinal);

        var badDate = await CliProcess.RunAsync([.. _common, "search", TestPaths.Face(Probe), .. TestCases.CliSearch, "--captured-from", "last week"]);
        Assert.Equal(ExitCodes.BadInput, badDate.ExitCode);
        Assert.Contains("--captured-from", badDate.Stderr, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task A_probe_under_the_quality_floor_is_refused_unless_a_recorded_reason_overrides_it()
    {
        // A floor no real face reaches makes any probe a low-quality one.
        var strict = new Dictionary<string, string> { ["LINEUP__Lineup__Search__QualityFloor"] = "99.99" };
        var refused = await CliProcess.RunAsync([.. _common, "search", TestPaths.Face(Probe), .. TestCases.CliSearch], strict);
        Assert.Equal(ExitCodes.LowQuality, refused.ExitCode);
        Assert.Contains("Tiger_Woods_0002.jpg", refused.Stderr, StringComparison.Ordinal);
        Assert.Contains("under the floor of 100", refused.Stderr, StringComparison.Ordinal);
        Assert.Contains("--override-quality", refused.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("https://", refused.Stdout, StringComparison.Ordinal);

        var blank = await CliProcess.RunAsync([.. _common, "search", TestPaths.Face(Probe), .. TestCases.CliSearch, "--override-quality", "  "], strict);
        Assert.Equal(ExitCodes.BadInput, blank.ExitCode);

        var overridden = await CliProcess.RunAsync(
            [.. _common, "search", TestPaths.Face(Probe), .. TestCases.CliSearch, "--json", "--override-quality", "only photo of the suspect; case 17"], strict);
        Assert.True(overridden.ExitCode == ExitCodes.Ok, overridden.Stderr);
        using (var json = JsonDocument.Parse(overridden.Stdout))
        {
            Assert.Equal("only photo of the suspect; case 17", json.RootElement.GetProperty("qualityOverride").GetString());
            Assert.True(json.RootElement.GetProperty("probeFaces")[0].GetProperty("belowFloor").GetBoolean());
        }

        await using var catalog = await SqliteCatalog.OpenAsync(_dir.Combine("data", "catalog.db"), "faceplugin-0.0.1");
        var searches = await catalog.ListSearchesAsync();
        var refusal = searches.First(s => s.Outcome == SearchOutcome.RefusedLowQuality);
        Assert.Null(refusal.QualityOverride);
        Assert.Equal(99.99f, refusal.QualityFloor, 3);
        Assert.True(refusal.Quality < 99.99f);
        var searched = searches.First(s => s.QualityOverride is not null);
        Assert.Equal("only photo of the suspect; case 17", searched.QualityOverride);
        Assert.Equal(SearchOutcome.Candidates, searched.Outcome);
        Assert.Equal(64, searched.ProbeSha256.Length);
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(await File.ReadAllBytesAsync(TestPaths.Face(Probe)))), searched.ProbeSha256);
    }

    [SkippableFact]
    public async Task Bad_probes_get_their_own_message_and_exit_code()
    {
        // Several faces: the most prominent is searched by default and the output says so; --face picks another.
        var couple = TestPaths.Face("deepface/groups/couple.jpg");
        var prominent = await CliProcess.RunAsync([.. _common, "search", couple, .. TestCases.CliSearch]);
        Assert.True(prominent.ExitCode == ExitCodes.Ok, prominent.Stderr);
        Assert.Contains("the most prominent", prominent.Stdout, StringComparison.Ordinal);
        var second = await CliProcess.RunAsync([.. _common, "search", couple, .. TestCases.CliSearch, "--json", "--face", "2"]);
        Assert.True(second.ExitCode == ExitCodes.Ok, second.Stderr);
        using (var json = JsonDocument.Parse(second.Stdout))
        {
            Assert.Equal(2, json.RootElement.GetProperty("searchedFace").GetInt32());
            Assert.Equal(2, json.RootElement.GetProperty("probeFaces").GetArrayLength());
        }

        var noSuchFace = await CliProcess.RunAsync([.. _common, "search", couple, .. TestCases.CliSearch, "--face", "5"]);
        Assert.Equal(ExitCodes.NotFound, noSuchFace.ExitCode);
        Assert.Contains("face 5 does not exist", noSuchFace.Stderr, StringComparison.Ordinal);

        var noFace = await CliProcess.RunAsync([.. _common, "search", TestPaths.Face("compreface_samples/noface/017_0.jpg"), .. TestCases.CliSearch]);
        Assert.Equal(ExitCodes.NotFound, noFace.ExitCode);
        Assert.Contains("017_0.jpg: no face was found", noFace.Stderr, StringComparison.Ordinal);

        var text = _dir.Combine("notes.jpg");
        await File.WriteAllTextAsync(text, "this is not a photo");
        var notImage = await CliProcess.RunAsync([.. _common, "search", text, .. TestCases.CliSearch]);
        Assert.Equal(ExitCodes.BadInput, notImage.ExitCode);
        Assert.Contains("notes.jpg", notImage.Stderr, StringComparison.Ordinal);

        var small = new Dictionary<string, string> { ["LINEUP__Lineup__Decode__MaxBytes"] = "2000" };
        var oversized = await CliProcess.RunAsync([.. _common, "search", TestPaths.Face(Probe), .. TestCases.CliSearch], small);
        Assert.Equal(ExitCodes.BadInput, oversized.ExitCode);
        Assert.Contains("Tiger_Woods_0002.jpg", oversized.Stderr, StringComparison.Ordinal);
        Assert.Contains("2,000-byte limit", oversized.Stderr, StringComparison.Ordinal);

        var badTop = await CliProcess.RunAsync([.. _common, "search", TestPaths.Face(Probe), .. TestCases.CliSearch, "--top", "0"]);
        Assert.Equal(ExitCodes.BadInput, badTop.ExitCode);

        // Refusals and probes without a face are recorded too; nothing about them reaches stdout.
        await using var catalog = await SqliteCatalog.OpenAsync(_dir.Combine("data", "catalog.db"), "faceplugin-0.0.1");
        var searches = await catalog.ListSearchesAsync();
        Assert.Contains(searches, s => s.Outcome == SearchOutcome.NoFace && s.FacesInProbe == 0);
        Assert.Contains(searches, s => s.Outcome == SearchOutcome.NoFace && s.FacesInProbe == 2);
    }
}
