using System.Text.Json;
using Lineup.Core.Audit;
using Lineup.Storage;
using Lineup.TestSupport;

namespace Lineup.Cli.Tests;

/// <summary>
/// <c>lineup cases</c> and <c>lineup users clearance</c> as real processes, and <c>lineup search</c> refused at intake with
/// exit code 9, recorded and audited.
/// </summary>
public sealed class CasesCommandTests : IDisposable
{
    private readonly TempDirectory _dir = new("cases-cli");

    public void Dispose() => _dir.Dispose();

    private string[] Common => ["--data", _dir.Combine("data"), "--models", TestPaths.ModelCache, "--quiet"];

    private async Task<CliResult> OkAsync(params string[] args)
    {
        var run = await CliProcess.RunAsync([.. Common, .. args]);
        Assert.True(run.ExitCode == ExitCodes.Ok, $"{string.Join(' ', args)}: {run.Stdout}{run.Stderr}");
        return run;
    }

    [Fact]
    public async Task Cases_are_opened_assigned_held_reauthorised_and_closed_and_every_change_is_audited()
    {
        var until = DateTime.UtcNow.AddDays(60).ToString("yyyy-MM-dd");
        await OkAsync("users", "add", "carol", "--roles", "analyst");
        await OkAsync("users", "add", "dave", "--roles", "reviewer");

        var badOffence = await CliProcess.RunAsync([.. Common, "cases", "open", "C-1", "--offence", "littering", "--purpose", "p", "--authorisation", "W-1", "--authorised-until", until]);
        Assert.Equal(ExitCodes.BadInput, badOffence.ExitCode);
        Assert.Contains("not on the list", badOffence.Stderr, StringComparison.Ordinal);
        var past = await CliProcess.RunAsync([.. Common, "cases", "open", "C-1", "--offence", "robbery", "--purpose", "p", "--authorisation", "W-1", "--authorised-until", "2020-01-01"]);
        Assert.Equal(ExitCodes.BadInput, past.ExitCode);
        var garbage = await CliProcess.RunAsync([.. Common, "cases", "open", "C-1", "--offence", "robbery", "--purpose", "p", "--authorisation", "W-1", "--authorised-until", "next spring"]);
        Assert.Equal(ExitCodes.BadInput, garbage.ExitCode);
        Assert.Contains("--authorised-until", garbage.Stderr, StringComparison.Ordinal);
        var badClearance = await CliProcess.RunAsync([.. Common, "users", "clearance", "carol", "--training-until", "soon"]);
        Assert.Equal(ExitCodes.BadInput, badClearance.ExitCode);
        Assert.Contains("--training-until", badClearance.Stderr, StringComparison.Ordinal);

        await OkAsync("cases", "open", "C-1", "--offence", "Robbery", "--purpose", "Armed robbery at a petrol station", "--authorisation", "W-1", "--authorised-until", until, "--assign", "carol");
        var duplicate = await CliProcess.RunAsync([.. Common, "cases", "open", "c-1", "--offence", "robbery", "--purpose", "p", "--authorisation", "W-1", "--authorised-until", until]);
        Assert.Equal(ExitCodes.BadInput, duplicate.ExitCode);
        Assert.Contains("already exists", duplicate.Stderr, StringComparison.Ordinal);

        await OkAsync("cases", "assign", "C-1", "dave");
        await OkAsync("cases", "unassign", "C-1", "dave");
        await OkAsync("cases", "hold", "C-1", "--reason", "litigation pending");
        await OkAsync("cases", "reauthorise", "C-1", "--authorisation", "W-2", "--authorised-until", until);
        var unknownUser = await CliProcess.RunAsync([.. Common, "cases", "assign", "C-1", "nobody"]);
        Assert.Equal(ExitCodes.BadInput, unknownUser.ExitCode);

        using (var shown = JsonDocument.Parse((await OkAsync("cases", "show", "C-1", "--json")).Stdout))
        {
            var found = shown.RootElement.GetProperty("case");
            Assert.Equal("robbery", found.GetProperty("offence").GetString());
            Assert.Equal("W-2", found.GetProperty("authorisationReference").GetString());
            Assert.True(found.GetProperty("legalHold").GetBoolean());
            Assert.Equal(["carol"], found.GetProperty("assignedUsers").EnumerateArray().Select(u => u.GetString()));
        }

        await OkAsync("cases", "close", "C-1");
        using (var listed = JsonDocument.Parse((await OkAsync("cases", "list", "--user", "carol", "--json")).Stdout))
        {
            Assert.Equal("Closed", Assert.Single(listed.RootElement.EnumerateArray()).GetProperty("status").GetString());
        }

        await using var catalog = await SqliteCatalog.OpenAsync(Path.Combine(_dir.Combine("data"), "catalog.db"), "m");
        var changes = (await catalog.ReadEventsAsync(1, 1000))
            .Where(e => e.Action == AuditActions.Admin && e.Subject == "case:C-1")
            .Select(e => e.Details["change"]?.Text).ToList();
        Assert.Equal(["case.open", "case.assign", "case.assign", "case.unassign", "case.hold", "case.reauthorise", "case.close"], changes);
        Assert.All((await catalog.ReadEventsAsync(1, 1000)).Where(e => e.Subject == "case:C-1"), e => Assert.StartsWith("cli:", e.Actor, StringComparison.Ordinal));
        Assert.Contains(await catalog.ReadEventsAsync(1, 1000), e => e.Subject == "user:carol" && e.Details["change"]?.Text == "user.add");
    }

    [Fact]
    public async Task A_search_without_a_case_or_with_a_lapsed_clearance_exits_9_and_is_recorded()
    {
        await TestPaths.ModelsAsync();
        var until = DateTime.UtcNow.AddDays(60).ToString("yyyy-MM-dd");
        await OkAsync("users", "add", "erin", "--roles", "analyst");
        await OkAsync("cases", "open", "C-2", "--offence", "homicide", "--purpose", "p", "--authorisation", "W-1", "--authorised-until", until, "--assign", "erin");
        var photo = _dir.Combine("probe.jpg");
        await File.WriteAllBytesAsync(photo, TestImages.Jpeg(96, 64));

        var noCase = await CliProcess.RunAsync([.. Common, "search", photo, "--source", "cctv_still", "--as", "erin"]);
        Assert.Equal(ExitCodes.Refused, noCase.ExitCode);
        Assert.Contains("search refused (nda_expired)", noCase.Stderr, StringComparison.Ordinal);

        await OkAsync("users", "clearance", "erin", "--nda-until", until, "--training-until", "2020-01-01");
        var lapsed = await CliProcess.RunAsync([.. Common, "search", photo, "--case", "C-2", "--source", "cctv_still", "--as", "erin"]);
        Assert.Equal(ExitCodes.Refused, lapsed.ExitCode);
        Assert.Contains("training_expired", lapsed.Stderr, StringComparison.Ordinal);

        await OkAsync("users", "clearance", "erin", "--training-until", until);
        var sketch = await CliProcess.RunAsync([.. Common, "search", photo, "--case", "C-2", "--source", "sketch", "--as", "erin"]);
        Assert.Equal(ExitCodes.Refused, sketch.ExitCode);
        Assert.Contains("refused_source", sketch.Stderr, StringComparison.Ordinal);

        // Past intake: analysed, and this photo has no face.
        var analysed = await CliProcess.RunAsync([.. Common, "search", photo, "--case", "C-2", "--source", "cctv_still", "--as", "erin"]);
        Assert.Equal(ExitCodes.NotFound, analysed.ExitCode);

        using var shown = JsonDocument.Parse((await OkAsync("cases", "show", "C-2", "--json")).Stdout);
        var outcomes = shown.RootElement.GetProperty("searches").EnumerateArray()
            .Select(s => s.TryGetProperty("refusal", out var r) && r.ValueKind == JsonValueKind.String ? r.GetString() : s.GetProperty("outcome").GetString()).ToList();
        Assert.Equal(["training_expired", "refused_source", "NoFace"], outcomes);
    }
}
