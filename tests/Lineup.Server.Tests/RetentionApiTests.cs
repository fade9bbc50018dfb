using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Lineup.Core.Audit;
using Lineup.Core.Catalog;
using Lineup.Core.Oversight;
using Lineup.Core.Security;
using Lineup.Hosting;
using Lineup.Server.Jobs;
using Microsoft.Extensions.Configuration;

namespace Lineup.Server.Tests;

/// <summary>A server whose background sweep is off, so that every receipt in its log comes from the requests of the test.</summary>
public sealed class RetentionServer : ServerFixture
{
    protected override string Name => "retention";

    protected override IReadOnlyDictionary<string, string> Settings => new Dictionary<string, string> { [RetentionJob.IntervalKey] = "0" };
}

/// <summary>GET /api/retention, PUT /api/retention/{dataClass} and POST /api/retention/sweep against the real catalog.</summary>
public sealed class RetentionApiTests(RetentionServer server) : IClassFixture<RetentionServer>
{
    [Fact]
    public async Task An_admin_reads_and_sets_the_time_to_live_and_each_change_is_audited_with_their_name()
    {
        var engine = server.Factory.Engine;
        var admin = await server.Factory.UserWithKeyAsync("r-admin-settings", Role.Admin);
        await server.Factory.AssignToCaseAsync("r-analyst", "R-HOLD");
        await engine.Cases.SetLegalHoldAsync("R-HOLD", true, "litigation", "tests");

        var shown = await Http.JsonAsync(await admin.GetAsync("/api/retention"));
        var settings = shown.GetProperty("settings").EnumerateArray().ToList();
        Assert.Equal(DataClasses.All, settings.Select(s => s.GetProperty("dataClass").GetString()!));
        Assert.Contains("R-HOLD", shown.GetProperty("casesOnHold").EnumerateArray().Select(c => c.GetString()));
        Assert.Equal(JsonValueKind.Null, shown.GetProperty("sweepHours").ValueKind);

        var set = await Http.JsonAsync(await admin.PutAsJsonAsync("/api/retention/candidate-lists", new { ttlDays = 400 }));
        Assert.Equal(("candidate_lists", 400, false), (set.GetProperty("dataClass").GetString(), set.GetProperty("ttlDays").GetInt32(), set.GetProperty("isDefault").GetBoolean()));
        Assert.Equal("r-admin-settings", set.GetProperty("setBy").GetString());
        var head = await engine.Audit.TreeHeadAsync();
        var logged = Assert.Single(await engine.Audit.ReadEventsAsync(head.TreeSize, 1));
        Assert.Equal((AuditActions.Admin, "retention:candidate_lists", "r-admin-settings"), (logged.Action, logged.Subject, logged.Actor));
        Assert.Equal(400, (await engine.Retention().GetRetentionAsync())[1].TtlDays);

        // Refusals change nothing and append nothing.
        await Http.ProblemAsync(await admin.PutAsJsonAsync("/api/retention/thumbnails", new { ttlDays = 30 }), HttpStatusCode.NotFound);
        await Http.ProblemAsync(await admin.PutAsJsonAsync("/api/retention/probe_images", new { ttlDays = 0 }), HttpStatusCode.BadRequest);
        await Http.ProblemAsync(await admin.PutAsJsonAsync("/api/retention/probe_images", new { }), HttpStatusCode.BadRequest);
        var shorter = await Http.ProblemAsync(await admin.PutAsJsonAsync("/api/retention/audit_events", new { ttlDays = 399 }), HttpStatusCode.BadRequest);
        Assert.Contains("candidate lists", Http.Detail(shorter), StringComparison.Ordinal);
        Assert.Equal(head.TreeSize, (await engine.Audit.TreeHeadAsync()).TreeSize);

        await Http.JsonAsync(await admin.PutAsJsonAsync("/api/retention/candidate_lists", new { ttlDays = 365 }));
    }

    [Fact]
    public async Task A_sweep_on_demand_removes_an_expired_probe_and_returns_its_receipt()
    {
        var engine = server.Factory.Engine;
        var admin = await server.Factory.UserWithKeyAsync("r-admin-sweep", Role.Admin);
        var caseId = await server.Factory.AssignToCaseAsync("r-analyst", "R-SWEEP");

        // A search recorded 200 days ago (the server's clock is the real one): its probe is past the 90-day default.
        var at = engine.Options.Clock.GetUtcNow().AddDays(-200);
        var old = await engine.SearchLog.RecordSearchAsync(
            new SearchRecord(at, "r-analyst", new string('a', 64), 1, 1, 80f, 40f, null, SearchOutcome.NoCandidateAboveThreshold, "top=1",
                engine.ModelId, 0, 0, 0, 1.0) { CaseId = caseId, CaseNumber = "R-SWEEP", ProbeSource = ProbeSources.FieldPhoto },
            TestImages.Jpeg(64, 48), []);
        Assert.NotNull(await engine.SearchLog.GetProbeAsync(old));

        var report = await Http.JsonAsync(await admin.PostAsync("/api/retention/sweep", null));
        Assert.True(report.GetProperty("probesDeleted").GetInt64() >= 1);
        Assert.Null(await engine.SearchLog.GetProbeAsync(old));
        Assert.NotNull(await engine.SearchLog.GetSearchAsync(old));
        var receipt = Assert.Single(await engine.Audit.ReadEventsAsync(report.GetProperty("auditSeq").GetInt64(), 1));
        Assert.Equal((AuditActions.Retention, "sweep", "r-admin-sweep"), (receipt.Action, receipt.Subject, receipt.Actor));
        Assert.Equal(report.GetProperty("probesDeleted").GetInt64(), receipt.Details["probes"]!.Value.Integer);
    }

    [Fact]
    public async Task Only_the_retention_permission_reaches_the_endpoints()
    {
        var analyst = await server.Factory.UserWithKeyAsync("r-analyst-denied", Role.Analyst, Role.Supervisor, Role.Auditor, Role.Reviewer);
        await Http.ProblemAsync(await analyst.GetAsync("/api/retention"), HttpStatusCode.Forbidden);
        await Http.ProblemAsync(await analyst.PostAsync("/api/retention/sweep", null), HttpStatusCode.Forbidden);
        await Http.ProblemAsync(await analyst.PutAsJsonAsync("/api/retention/probe_images", new { ttlDays = 1 }), HttpStatusCode.Forbidden);
        Assert.Equal(90, (await server.Factory.Engine.Retention().GetRetentionAsync())[0].TtlDays);
    }

    [Theory]
    [InlineData(null, 6.0)]
    [InlineData("", 6.0)]
    [InlineData("0", null)]
    [InlineData("12", 12.0)]
    [InlineData("0.5", 0.5)]
    public void The_sweep_interval_is_read_from_configuration(string? value, double? hours)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { [RetentionJob.IntervalKey] = value }).Build();
        Assert.Equal(hours, RetentionJob.ReadInterval(configuration)?.TotalHours);
    }

    [Theory]
    [InlineData("six")]
    [InlineData("-1")]
    [InlineData("100000")]
    [InlineData("NaN")]
    public void A_bad_sweep_interval_is_refused_naming_the_setting(string value)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { [RetentionJob.IntervalKey] = value }).Build();
        var refused = Assert.Throws<InvalidOperationException>(() => RetentionJob.ReadInterval(configuration));
        Assert.Contains("RetentionSweepHours", refused.Message, StringComparison.Ordinal);
    }
}

/// <summary>A server that sweeps every second (the shortest interval the setting allows).</summary>
public sealed class SweepingServer : ServerFixture
{
    protected override string Name => "retention-job";

    protected override IReadOnlyDictionary<string, string> Settings => new Dictionary<string, string> { [RetentionJob.IntervalKey] = "0.0001" };
}

/// <summary>The background job sweeps by itself, as <see cref="RetentionSweeper.SystemActor"/>.</summary>
public sealed class RetentionJobTests(SweepingServer server) : IClassFixture<SweepingServer>
{
    [Fact]
    public async Task The_background_job_sweeps_and_leaves_its_receipt()
    {
        var audit = server.Factory.Engine.Audit;
        var deadline = DateTime.UtcNow.AddMinutes(2);
        AuditEvent? receipt = null;
        while (receipt is null && DateTime.UtcNow < deadline)
        {
            receipt = (await audit.ReadEventsAsync(1, 1000)).FirstOrDefault(e => e.Action == AuditActions.Retention);
            if (receipt is null)
            {
                await Task.Delay(200);
            }
        }

        Assert.NotNull(receipt);
        Assert.Equal(("sweep", RetentionSweeper.SystemActor), (receipt.Subject, receipt.Actor));
        Assert.True((await audit.VerifyAsync(null)).IsIntact);
    }
}
