using Lineup.Core.Catalog;
using Lineup.Core.Oversight;
using Lineup.Core.Security;

namespace Lineup.Core.Tests.Oversight;

public sealed class SearchIntakeTests
{
    private static readonly DateTimeOffset s_now = new(2026, 11, 29, 12, 0, 0, TimeSpan.Zero);
    private static readonly OversightPolicy s_policy = new(["robbery", "homicide"]);

    private static UserAccount Analyst(string name = "alice", DateTimeOffset? nda = null, DateTimeOffset? training = null, bool disabled = false, params Role[] roles) =>
        new(1, name, null, new HashSet<Role>(roles.Length > 0 ? roles : [Role.Analyst]), null, "stamp", s_now.AddYears(-1), disabled ? s_now.AddDays(-1) : null)
        {
            NdaUntil = nda ?? s_now.AddDays(30),
            TrainingUntil = training ?? s_now.AddDays(30),
        };

    private static CaseRecord Case(
        string offence = "robbery", DateTimeOffset? until = null, CaseStatus status = CaseStatus.Open, params string[] assigned) =>
        new(7, "C-7", offence, "purpose", "W-1", until ?? s_now.AddDays(10), status, false, s_now.AddDays(-5), "sup", null,
            assigned.Length > 0 ? assigned : ["ALICE"]);

    private static IntakeRefusal? Check(UserAccount? user, string? number = "C-7", CaseRecord? found = null, string? source = "cctv_still") =>
        SearchIntake.Check(user, user?.Name ?? "ghost", number, number is null ? null : found ?? Case(), source, s_policy, s_now)?.Refusal;

    [Fact]
    public void A_cleared_assigned_analyst_with_an_attested_photo_in_an_open_authorised_case_may_search()
    {
        Assert.Null(Check(Analyst()));
        Assert.Null(Check(Analyst(), source: "Field-Photo"));
        Assert.Null(SearchIntake.Check(Analyst(), "alice", "C-7", Case(offence: "HOMICIDE"), "other", s_policy, s_now));
    }

    [Fact]
    public void Each_rule_refuses_with_its_own_reason()
    {
        Assert.Equal(IntakeRefusal.UnknownUser, Check(null));
        Assert.Equal(IntakeRefusal.UserDisabled, Check(Analyst(disabled: true)));
        Assert.Equal(IntakeRefusal.NotAnAnalyst, Check(Analyst(roles: Role.Reviewer)));
        Assert.Equal(IntakeRefusal.NdaExpired, Check(Analyst(nda: s_now)));
        Assert.Equal(IntakeRefusal.NdaExpired, Check(Analyst() with { NdaUntil = null }));
        Assert.Equal(IntakeRefusal.TrainingExpired, Check(Analyst(training: s_now.AddSeconds(-1))));
        Assert.Equal(IntakeRefusal.TrainingExpired, Check(Analyst() with { TrainingUntil = null }));
        Assert.Equal(IntakeRefusal.NoCase, Check(Analyst(), number: null));
        Assert.Equal(IntakeRefusal.NoCase, SearchIntake.Check(Analyst(), "alice", "  ", null, "cctv_still", s_policy, s_now)?.Refusal);
        Assert.Equal(IntakeRefusal.UnknownCase, SearchIntake.Check(Analyst(), "alice", "C-404", null, "cctv_still", s_policy, s_now)?.Refusal);
        Assert.Equal(IntakeRefusal.CaseClosed, Check(Analyst(), found: Case(status: CaseStatus.Closed)));
        Assert.Equal(IntakeRefusal.OffenceNotAllowed, Check(Analyst(), found: Case(offence: "shoplifting")));
        Assert.Equal(IntakeRefusal.AuthorisationExpired, Check(Analyst(), found: Case(until: s_now)));
        Assert.Equal(IntakeRefusal.NotAssigned, Check(Analyst(), found: Case(assigned: "bob")));
        Assert.Equal(IntakeRefusal.NoAttestation, Check(Analyst(), source: null));
        Assert.Equal(IntakeRefusal.UnknownSource, Check(Analyst(), source: "polaroid"));
    }

    [Theory]
    [InlineData("sketch")]
    [InlineData("composite")]
    [InlineData("look-alike")]
    [InlineData("edited")]
    [InlineData("generated")]
    public void Sketches_composites_look_alikes_and_edited_or_generated_images_are_refused(string source)
    {
        var refusal = SearchIntake.Check(Analyst(), "alice", "C-7", Case(), source, s_policy, s_now);
        Assert.Equal(IntakeRefusal.RefusedSource, refusal?.Refusal);
        Assert.Contains(ProbeSources.Describe(ProbeSources.Normalize(source)!), refusal!.Value.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Refusal_codes_round_trip_and_are_distinct()
    {
        var codes = Enum.GetValues<IntakeRefusal>().Select(SearchIntake.Code).ToList();
        Assert.Equal(codes.Count, codes.Distinct().Count());
        Assert.All(Enum.GetValues<IntakeRefusal>(), r => Assert.Equal(r, SearchIntake.Parse(SearchIntake.Code(r))));
        Assert.Null(SearchIntake.Parse("nonsense"));
    }

    [Fact]
    public void Outcome_codes_round_trip_and_are_distinct()
    {
        var codes = Enum.GetValues<SearchOutcome>().Select(SearchOutcomes.Code).ToList();
        Assert.Equal(codes.Count, codes.Distinct().Count());
        Assert.All(Enum.GetValues<SearchOutcome>(), o => Assert.Equal(o, SearchOutcomes.Parse(SearchOutcomes.Code(o))));
        Assert.Equal("withheld_opt_out", SearchOutcomes.Code(SearchOutcome.WithheldOptOut));
        Assert.Null(SearchOutcomes.Parse("Candidates"));
    }
}
