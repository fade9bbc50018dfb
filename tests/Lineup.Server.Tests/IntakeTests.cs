using System.Net;
using Lineup.Core.Audit;
using Lineup.Core.Catalog;
using Lineup.Core.Oversight;
using Lineup.Core.Security;

namespace Lineup.Server.Tests;

/// <summary>An analyst, cases in every state the intake rules refuse, and users whose clearance lapsed.</summary>
public sealed class IntakeServer : ServerFixture
{
    public static readonly DateTimeOffset Now = DateTimeOffset.UtcNow;

    protected override string Name => "intake";

    protected override IReadOnlyDictionary<string, string> Settings => new Dictionary<string, string>
    {
        ["Lineup:Oversight:Offences:0"] = "robbery",
        ["Lineup:Oversight:Offences:1"] = "homicide",
        ["Lineup:Server:SearchesPerMinute"] = "10000",
    };

    public HttpClient Analyst { get; private set; } = null!;

    public HttpClient Untrained { get; private set; } = null!;

    protected override async Task SeedAsync(LineupFactory factory)
    {
        var cases = factory.Engine.Cases;
        Analyst = await factory.UserWithKeyAsync("i-analyst", Role.Analyst);
        await factory.AssignToCaseAsync("i-analyst", "OK-1");
        Untrained = await factory.UserWithKeyAsync("i-untrained", Role.Analyst);
        await factory.AssignToCaseAsync("i-untrained", "OK-1");
        await cases.SetClearanceAsync("i-untrained", Now.AddYears(1), Now.AddDays(-1), "tests");

        // Opened through the store, which (unlike the API) does not check the list or the date: the list may have
        // shrunk since, and an authorisation expires while its case stays open.
        await cases.OpenCaseAsync(new NewCase("SHOP-1", "shoplifting", "tests", "W-2", Now.AddYears(1)), "tests");
        await cases.AssignAsync("SHOP-1", "i-analyst", "tests");
        await cases.OpenCaseAsync(new NewCase("OLD-1", "robbery", "tests", "W-3", Now.AddDays(-2)), "tests");
        await cases.AssignAsync("OLD-1", "i-analyst", "tests");
        await cases.OpenCaseAsync(new NewCase("OTHER-1", "robbery", "tests", "W-4", Now.AddYears(1)), "tests");
    }
}

/// <summary>
/// The intake acceptance: a search with a missing case, an offence not on the list, an expired authorisation, an
/// unassigned user, an expired-training user or a sketch attestation is refused before the probe is analysed, recorded
/// with its reason, and audited.
/// </summary>
public sealed class IntakeTests(IntakeServer server) : IClassFixture<IntakeServer>
{
    public static TheoryData<string, string?, string?, string> Refusals => new()
    {
        { "analyst", null, "cctv_still", "no_case" },
        { "analyst", "NOPE-9", "cctv_still", "unknown_case" },
        { "analyst", "SHOP-1", "cctv_still", "offence_not_allowed" },
        { "analyst", "OLD-1", "cctv_still", "authorisation_expired" },
        { "analyst", "OTHER-1", "cctv_still", "not_assigned" },
        { "untrained", "OK-1", "cctv_still", "training_expired" },
        { "analyst", "OK-1", "sketch", "refused_source" },
        { "analyst", "OK-1", "composite", "refused_source" },
        { "analyst", "OK-1", null, "no_attestation" },
    };

    [Theory]
    [MemberData(nameof(Refusals))]
    public async Task A_search_breaking_an_intake_rule_is_refused_recorded_and_audited(string who, string? caseNumber, string? source, string code)
    {
        var engine = server.Factory.Engine;
        var client = who == "analyst" ? server.Analyst : server.Untrained;
        var photo = TestImages.Jpeg(96, 64);
        var fields = new List<(string, string)>();
        if (caseNumber is not null)
        {
            fields.Add(("case", caseNumber));
        }

        if (source is not null)
        {
            fields.Add(("source", source));
        }

        var head = await engine.Audit.TreeHeadAsync();
        using var response = await client.PostAsync("/api/search", Http.Form("photo", photo, fields: [.. fields]));

        var problem = await Http.ProblemAsync(response, HttpStatusCode.Forbidden, "Search refused");
        Assert.Equal(code, problem.GetProperty("refusal").GetString());
        var searchId = problem.GetProperty("searchId").GetInt64();

        var record = await engine.SearchLog.GetSearchAsync(searchId);
        Assert.NotNull(record);
        Assert.Equal(SearchOutcome.RefusedIntake, record.Outcome);
        Assert.Equal(code, record.Refusal);
        Assert.Equal($"i-{who}", record.By);
        Assert.Equal(caseNumber, record.CaseNumber);
        Assert.Equal(0, record.FacesInProbe);
        Assert.Null(await engine.SearchLog.GetProbeAsync(searchId));

        var logged = Assert.Single(await engine.Audit.ReadEventsAsync(head.TreeSize + 1, 10));
        Assert.Equal(AuditActions.Search, logged.Action);
        Assert.Equal($"search:{searchId}", logged.Subject);
        Assert.Equal($"i-{who}", logged.Actor);
        Assert.Equal("refused_intake", logged.Details["outcome"]?.Text);
        Assert.Equal(code, logged.Details["refusal"]?.Text);
        Assert.Equal(caseNumber, logged.Details["case"]?.Text);
    }

    [Fact]
    public async Task A_search_that_passes_intake_is_analysed_and_keeps_its_case_attestation_and_probe()
    {
        var engine = server.Factory.Engine;
        var photo = TestImages.Jpeg(96, 64);
        using var response = await server.Analyst.PostAsync("/api/search", Http.Form("photo", photo, fields: [("case", "ok-1"), ("source", "CCTV still")]));

        // The photo has no face: analysed and answered 422, not refused at intake.
        var problem = await Http.ProblemAsync(response, HttpStatusCode.UnprocessableEntity, "No face in the probe");
        _ = problem;
        var record = (await engine.SearchLog.ListSearchesAsync(1)).Single();
        Assert.Equal(SearchOutcome.NoFace, record.Outcome);
        Assert.Null(record.Refusal);
        Assert.Equal("ok-1", record.CaseNumber);
        Assert.Equal((await engine.Cases.FindCaseAsync("OK-1"))!.Id, record.CaseId);
        Assert.Equal(ProbeSources.CctvStill, record.ProbeSource);
        Assert.Equal(photo, await engine.SearchLog.GetProbeAsync(record.Id));
        Assert.StartsWith("analyze=", record.Timings, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Cases_are_shown_on_a_need_to_know_basis_and_opened_only_for_listed_offences()
    {
        using var mine = await server.Analyst.GetAsync("/api/cases");
        var numbers = (await Http.JsonAsync(mine)).EnumerateArray().Select(c => c.GetProperty("number").GetString()).ToHashSet();
        Assert.Contains("OK-1", numbers);
        Assert.DoesNotContain("OTHER-1", numbers);
        var other = (await server.Factory.Engine.Cases.FindCaseAsync("OTHER-1"))!;
        using var hidden = await server.Analyst.GetAsync($"/api/cases/{other.Id}");
        await Http.ProblemAsync(hidden, HttpStatusCode.NotFound);

        var supervisor = await server.Factory.UserWithKeyAsync("i-supervisor", Role.Supervisor);
        using var refused = await supervisor.PostAsync("/api/cases", System.Net.Http.Json.JsonContent.Create(new
        {
            number = "SHOP-2", offence = "shoplifting", purpose = "p", authorisationReference = "W", authorisedUntil = IntakeServer.Now.AddDays(5),
        }));
        Assert.Contains("not on the list", Http.Detail(await Http.ProblemAsync(refused, HttpStatusCode.BadRequest)), StringComparison.Ordinal);

        using var opened = await supervisor.PostAsync("/api/cases", System.Net.Http.Json.JsonContent.Create(new
        {
            number = "ROB-2", offence = "Robbery", purpose = "p", authorisationReference = "W", authorisedUntil = IntakeServer.Now.AddDays(5),
        }));
        var created = await Http.JsonAsync(opened, HttpStatusCode.Created);
        Assert.Equal("robbery", created.GetProperty("offence").GetString());
        Assert.True(created.GetProperty("searchable").GetBoolean());
        using var duplicate = await supervisor.PostAsync("/api/cases", System.Net.Http.Json.JsonContent.Create(new
        {
            number = "rob-2", offence = "robbery", purpose = "p", authorisationReference = "W", authorisedUntil = IntakeServer.Now.AddDays(5),
        }));
        await Http.ProblemAsync(duplicate, HttpStatusCode.Conflict);
    }
}
