using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Lineup.Cli.Commands;
using Lineup.Core.Catalog;
using Lineup.Core.Oversight;
using Lineup.Hosting;
using Lineup.Storage;
using Lineup.TestSupport;
using Lineup.Vision.Models;

namespace Lineup.Cli.Tests;

/// <summary>
/// The supervisor view over searches recorded directly in a real catalog (no models): counts per user, case and day, the
/// four flags with the cases that must and must not raise them, and <c>lineup oversight activity --json</c>.
/// </summary>
public sealed class OversightFlagsTests : IDisposable
{
    /// <summary>A Monday; June, so Europe/Berlin is UTC+2.</summary>
    private static readonly DateTimeOffset s_monday = DateTimeOffset.Parse("2025-06-02T00:00:00Z", CultureInfo.InvariantCulture);

    private readonly TempDirectory _dir = new("oversight-flags");
    private int _probes;

    public void Dispose() => _dir.Dispose();

    private string Data => _dir.Combine("data");

    private async Task<SqliteCatalog> OpenAsync()
    {
        Directory.CreateDirectory(Data);
        return await SqliteCatalog.OpenAsync(Path.Combine(Data, "catalog.db"), ModelPackManifest.Default.Id);
    }

    private static Task<CaseRecord> CaseAsync(SqliteCatalog catalog, string number) =>
        catalog.OpenCaseAsync(new NewCase(number, "robbery", "tests", "W-" + number, s_monday.AddYears(1)), "tests");

    /// <summary>Records a search; each gets its own probe unless <paramref name="probe"/> names one.</summary>
    private async Task<long> RecordAsync(
        SqliteCatalog catalog, DateTimeOffset at, string by, CaseRecord? inCase, SearchOutcome outcome = SearchOutcome.NoCandidateAboveThreshold,
        string? refusal = null, string? probe = null, params long[] faces)
    {
        var sha = probe ?? (++_probes).ToString("x64", CultureInfo.InvariantCulture);
        var candidates = faces.Select((face, i) => new StoredCandidate(i + 1, face, face + 10_000, 0.7f - (0.01f * i), 1e-6, AboveThreshold: true)).ToList();
        var record = new SearchRecord(
            at, by, sha, refusal is null ? 1 : 0, refusal is null ? 1 : null, refusal is null ? 70f : null, 40f, null,
            faces.Length > 0 ? SearchOutcome.Candidates : outcome, "top=10", ModelPackManifest.Default.Id, 1000, candidates.Count, candidates.Count, 5)
        {
            CaseId = inCase?.Id,
            CaseNumber = inCase?.Number,
            ProbeSource = ProbeSources.CctvStill,
            Refusal = refusal,
        };
        return await catalog.RecordSearchAsync(record, ReadOnlyMemory<byte>.Empty, candidates);
    }

    private static Task<OversightActivityReport> ViewAsync(SqliteCatalog catalog, OversightSettings? settings = null, int days = 10) =>
        OversightActivity.ComputeAsync(catalog, settings ?? new OversightSettings(), s_monday, s_monday.AddDays(days), s_monday.AddDays(days));

    [Fact]
    public async Task A_day_far_above_a_users_median_is_a_volume_spike_and_steady_or_small_volumes_are_not()
    {
        await using var catalog = await OpenAsync();
        var c = await CaseAsync(catalog, "V-1");
        // ana: 2 a day for 10 days, and 12 more on Friday: 14 > max(10, 3 × median 2).
        for (var day = 0; day < 10; day++)
        {
            for (var i = 0; i < (day == 4 ? 14 : 2); i++)
            {
                await RecordAsync(catalog, s_monday.AddDays(day).AddHours(10).AddMinutes(i), "ana", c);
            }
        }

        // bob: 9 on one day and nothing else: under the floor of 10.
        for (var i = 0; i < 9; i++)
        {
            await RecordAsync(catalog, s_monday.AddDays(1).AddHours(9).AddMinutes(i), "bob", c);
        }

        // cy: 20 a day (a busy but steady analyst), then 61 on the last day: only that day exceeds 3 × 20.
        var cyLast = new List<long>();
        for (var day = 0; day < 10; day++)
        {
            for (var i = 0; i < (day == 9 ? 61 : 20); i++)
            {
                var id = await RecordAsync(catalog, s_monday.AddDays(day).AddHours(8).AddMinutes(i), "cy", c);
                if (day == 9)
                {
                    cyLast.Add(id);
                }
            }
        }

        var view = await ViewAsync(catalog);
        var spikes = view.Flags.Where(f => f.Kind == ActivityFlagKind.VolumeSpike).ToList();
        Assert.Equal(2, spikes.Count);
        var ana = Assert.Single(spikes, f => f.User == "ana");
        Assert.Equal(new DateOnly(2025, 6, 6), ana.Day);
        Assert.Equal(14, ana.SearchIds.Count);
        Assert.Contains("median of 2", ana.Reason, StringComparison.Ordinal);
        var cy = Assert.Single(spikes, f => f.User == "cy");
        Assert.Equal(new DateOnly(2025, 6, 11), cy.Day);
        Assert.Equal(cyLast, cy.SearchIds);
        Assert.Equal("volume_spike", cy.Code);

        Assert.Equal(32 + 9 + 241, view.Searches);
        Assert.Equal(["cy", "ana", "bob"], view.Users.Select(u => u.User));
        Assert.Equal(32, view.Users.Single(u => u.User == "ana").Searches);
        Assert.Equal(32, view.Users.Single(u => u.User == "ana").Outcomes["no_candidate_above_threshold"]);
        Assert.Equal(10, view.Days.Count);
        Assert.Equal(2 + 9 + 20, view.Days.Single(d => d.Day == new DateOnly(2025, 6, 3)).Searches);
        Assert.Equal(view.Searches, Assert.Single(view.Cases).Searches);
    }

    [Fact]
    public async Task A_case_whose_probes_fall_into_three_or_more_groups_sharing_no_candidate_is_flagged()
    {
        await using var catalog = await OpenAsync();
        var x = await CaseAsync(catalog, "X-1");
        var y = await CaseAsync(catalog, "Y-1");
        var z = await CaseAsync(catalog, "Z-1");
        var at = s_monday.AddHours(9);
        // X: six probes in four groups. p1 and p2 share face 3, which only p1's second search returned (a probe is all
        // its searches); p3 also returned face 2 of p1, but only at rank 6, past the top five compared; p4 and p5 share 12.
        var xIds = new List<long>
        {
            await RecordAsync(catalog, at, "ana", x, probe: "p1", faces: [1, 2]),
            await RecordAsync(catalog, at.AddMinutes(1), "ana", x, probe: "p1", faces: [3]),
            await RecordAsync(catalog, at.AddMinutes(2), "ana", x, probe: "p2", faces: [3, 40]),
            await RecordAsync(catalog, at.AddMinutes(3), "bob", x, probe: "p3", faces: [10, 50, 51, 52, 53, 2]),
            await RecordAsync(catalog, at.AddMinutes(4), "ana", x, probe: "p4", faces: [11, 12]),
            await RecordAsync(catalog, at.AddMinutes(5), "ana", x, probe: "p5", faces: [12, 13]),
            await RecordAsync(catalog, at.AddMinutes(6), "ana", x, probe: "p6", faces: [20]),
        };
        // A probe with no candidate says nothing about who it shows: not counted.
        await RecordAsync(catalog, at.AddMinutes(7), "ana", x, probe: "p7");

        // Y: six probes that all share face 1: one person, one group.
        for (var i = 0; i < 6; i++)
        {
            await RecordAsync(catalog, at.AddMinutes(10 + i), "ana", y, probe: $"y{i}", faces: [1, 100 + i]);
        }

        // Z: four unrelated probes: too few to judge.
        for (var i = 0; i < 4; i++)
        {
            await RecordAsync(catalog, at.AddMinutes(20 + i), "ana", z, probe: $"z{i}", faces: [200 + i]);
        }

        var view = await ViewAsync(catalog);
        var flag = Assert.Single(view.Flags, f => f.Kind == ActivityFlagKind.UnrelatedProbes);
        Assert.Equal("X-1", flag.CaseNumber);
        Assert.Equal(xIds, flag.SearchIds);
        Assert.Contains("6 distinct probes", flag.Reason, StringComparison.Ordinal);
        Assert.Contains("4 groups", flag.Reason, StringComparison.Ordinal);
        Assert.Contains("ana, bob", flag.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Probes_are_related_through_shared_faces_transitively()
    {
        Assert.Equal(1, OversightActivity.UnrelatedGroups([[1], [1, 2], [2, 3], [3]]));
        Assert.Equal(3, OversightActivity.UnrelatedGroups([[1], [2], [3], [], []]));
        Assert.Equal(2, OversightActivity.UnrelatedGroups([[1, 5], [2], [5, 9], [9], [2, 7]]));
        Assert.Equal(0, OversightActivity.UnrelatedGroups([]));
    }

    [Fact]
    public async Task Searches_refused_after_the_authorisation_expired_or_the_case_closed_are_flagged_per_user_and_case()
    {
        await using var catalog = await OpenAsync();
        var x = await CaseAsync(catalog, "E-1");
        var y = await CaseAsync(catalog, "E-2");
        var at = s_monday.AddHours(10);
        var expired1 = await RecordAsync(catalog, at, "ana", x, SearchOutcome.RefusedIntake, "authorisation_expired");
        var expired2 = await RecordAsync(catalog, at.AddHours(1), "ana", x, SearchOutcome.RefusedIntake, "authorisation_expired");
        var closed = await RecordAsync(catalog, at.AddHours(2), "bob", y, SearchOutcome.RefusedIntake, "case_closed");
        await RecordAsync(catalog, at.AddHours(3), "bob", x, SearchOutcome.RefusedIntake, "not_assigned");
        await RecordAsync(catalog, at.AddHours(4), "ana", x);

        var flags = (await ViewAsync(catalog)).Flags.Where(f => f.Kind == ActivityFlagKind.AfterAuthorisationExpired).ToList();
        Assert.Equal(2, flags.Count);
        Assert.Equal(("ana", "E-1"), (flags[0].User, flags[0].CaseNumber));
        Assert.Equal([expired1, expired2], flags[0].SearchIds);
        Assert.Contains("expired", flags[0].Reason, StringComparison.Ordinal);
        Assert.Equal(("bob", "E-2"), (flags[1].User, flags[1].CaseNumber));
        Assert.Equal([closed], flags[1].SearchIds);
        Assert.Contains("closed", flags[1].Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Searches_outside_working_hours_or_on_weekends_are_flagged_in_the_configured_time_zone()
    {
        await using var catalog = await OpenAsync();
        var c = await CaseAsync(catalog, "H-1");
        var at = (string utc) => DateTimeOffset.Parse(utc, CultureInfo.InvariantCulture);
        var early = await RecordAsync(catalog, at("2025-06-02T04:30:00Z"), "ana", c);   // 06:30 in Berlin: before 7
        await RecordAsync(catalog, at("2025-06-02T05:30:00Z"), "ana", c);               // 07:30: working
        await RecordAsync(catalog, at("2025-06-02T16:59:00Z"), "ana", c);               // 18:59: working
        var late = await RecordAsync(catalog, at("2025-06-02T17:00:00Z"), "ana", c);    // 19:00: the day has ended
        var saturday = await RecordAsync(catalog, at("2025-06-07T10:00:00Z"), "ana", c);
        var night = await RecordAsync(catalog, at("2025-06-08T22:30:00Z"), "bob", c);   // Monday 00:30 in Berlin
        await RecordAsync(catalog, at("2025-06-09T08:00:00Z"), "bob", c);

        var berlin = new OversightSettings { TimeZone = "Europe/Berlin", WorkdayStartHour = 7, WorkdayEndHour = 19 };
        var view = await ViewAsync(catalog, berlin);
        Assert.Equal("Europe/Berlin", view.TimeZone);
        var flags = view.Flags.Where(f => f.Kind == ActivityFlagKind.OutsideWorkingHours).ToList();
        Assert.Equal(
            [("ana", new DateOnly(2025, 6, 2)), ("ana", new DateOnly(2025, 6, 7)), ("bob", new DateOnly(2025, 6, 9))],
            flags.Select(f => (f.User!, f.Day!.Value)));
        Assert.Equal([early, late], flags[0].SearchIds);
        Assert.Contains("06:30, 19:00", flags[0].Reason, StringComparison.Ordinal);
        Assert.Equal([saturday], flags[1].SearchIds);
        Assert.Contains("weekend", flags[1].Reason, StringComparison.Ordinal);
        Assert.Equal([night], flags[2].SearchIds);
        // Days are counted in Berlin time too: the Sunday-night search belongs to Monday the 9th.
        Assert.Equal(2, view.Days.Single(d => d.Day == new DateOnly(2025, 6, 9)).Searches);

        // A night shift (22 to 6) works through midnight.
        var nights = new OversightSettings { WorkdayStartHour = 22, WorkdayEndHour = 6 };
        Assert.False(OversightActivity.IsOutsideWorkingHours(at("2025-06-03T23:00:00Z"), nights, TimeZoneInfo.Utc));
        Assert.False(OversightActivity.IsOutsideWorkingHours(at("2025-06-03T05:59:00Z"), nights, TimeZoneInfo.Utc));
        Assert.True(OversightActivity.IsOutsideWorkingHours(at("2025-06-03T12:00:00Z"), nights, TimeZoneInfo.Utc));
        Assert.Throws<ArgumentException>(() => OversightActivity.TimeZone(new OversightSettings { TimeZone = "Mars/Olympus_Mons" }));
    }

    [Fact]
    public void A_period_defaults_to_the_last_30_days_and_must_be_forward_and_at_most_366_days()
    {
        var now = s_monday;
        Assert.Equal((now.AddDays(-30), now), OversightActivity.Period(null, null, now));
        Assert.Equal((now.AddDays(-40), now.AddDays(-10)), OversightActivity.Period(null, now.AddDays(-10), now));
        Assert.Throws<ArgumentException>(() => OversightActivity.Period(now, now, now));
        Assert.Throws<ArgumentException>(() => OversightActivity.Period(now.AddDays(-367), now, now));
    }

    [Fact]
    public async Task Lineup_oversight_activity_prints_the_view_as_json_and_the_view_is_audited()
    {
        await using (var catalog = await OpenAsync())
        {
            var c = await CaseAsync(catalog, "J-1");
            await RecordAsync(catalog, s_monday.AddHours(10), "ana", c);
            await RecordAsync(catalog, s_monday.AddHours(11), "ana", c, SearchOutcome.RefusedIntake, "authorisation_expired");
            await RecordAsync(catalog, s_monday.AddDays(5).AddHours(11), "bob", c); // a Saturday
            await RecordAsync(catalog, s_monday.AddDays(20), "bob", c);             // after the period
        }

        var root = new RootCommand();
        foreach (var option in GlobalOptions.All)
        {
            root.Options.Add(option);
        }

        root.Subcommands.Add(ReportCommands.BuildOversight());
        using var output = new StringWriter();
        var exit = await root.Parse(["--data", Data, "oversight", "activity", "--from", "2025-06-02", "--to", "2025-06-08", "--json"])
            .InvokeAsync(new InvocationConfiguration { Output = output });
        Assert.Equal(ExitCodes.Ok, exit);
        using var json = JsonDocument.Parse(output.ToString());
        var view = json.RootElement;
        Assert.Equal(s_monday, view.GetProperty("from").GetDateTimeOffset());
        Assert.Equal(s_monday.AddDays(7), view.GetProperty("to").GetDateTimeOffset());
        Assert.Equal(3, view.GetProperty("searches").GetInt32());
        Assert.Equal(1, view.GetProperty("users").EnumerateArray().Single(u => u.GetProperty("user").GetString() == "ana")
            .GetProperty("outcomes").GetProperty("refused_intake").GetInt32());
        var kinds = view.GetProperty("flags").EnumerateArray().Select(f => f.GetProperty("kind").GetString()).ToList();
        Assert.Equal(["after_authorisation_expired", "outside_working_hours"], kinds);

        await using var reopened = await OpenAsync();
        var viewed = (await reopened.ReadEventsAsync(1, 1000)).Last();
        Assert.Equal(("view", "oversight:activity"), (viewed.Action, viewed.Subject));
        Assert.Equal((long?)3, viewed.Details["searches"]!.Value.Integer);
    }
}
