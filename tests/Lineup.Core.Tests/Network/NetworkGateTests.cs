using Lineup.Core.Network;
using Lineup.Core.Oversight;
using Lineup.Core.Security;

namespace Lineup.Core.Tests.Network;

/// <summary>The case gate of network queries: the search gate's user and case rules, without a probe attestation.</summary>
public sealed class NetworkGateTests
{
    private static readonly DateTimeOffset s_now = new(2026, 11, 29, 12, 0, 0, TimeSpan.Zero);
    private static readonly OversightPolicy s_policy = new(["robbery", "homicide"]);

    private static UserAccount User(string name = "alice", bool disabled = false, DateTimeOffset? nda = null, params Role[] roles) =>
        new(1, name, null, new HashSet<Role>(roles.Length > 0 ? roles : [Role.Analyst]), null, "stamp", s_now.AddYears(-1), disabled ? s_now.AddDays(-1) : null)
        {
            NdaUntil = nda ?? s_now.AddDays(30),
            TrainingUntil = s_now.AddDays(30),
        };

    private static CaseRecord Case(string offence = "robbery", DateTimeOffset? until = null, CaseStatus status = CaseStatus.Open, params string[] assigned) =>
        new(7, "C-7", offence, "purpose", "W-1", until ?? s_now.AddDays(10), status, false, s_now.AddDays(-5), "sup", null,
            assigned.Length > 0 ? assigned : ["alice"]);

    private static IntakeRefusal? Check(UserAccount? user, string? number = "C-7", CaseRecord? found = null) =>
        NetworkGate.Check(user, user?.Name ?? "ghost", number, number is null ? null : found ?? Case(), s_policy, s_now)?.Refusal;

    [Fact]
    public void A_cleared_analyst_or_supervisor_assigned_to_an_open_authorised_case_may_query_without_any_probe_attestation()
    {
        Assert.Null(Check(User()));
        Assert.Null(Check(User(roles: Role.Supervisor)));
        Assert.Null(Check(User(roles: [Role.Reviewer, Role.Analyst])));
        Assert.Null(Check(User(), found: Case(offence: "HOMICIDE")));
    }

    [Fact]
    public void Each_user_and_case_rule_refuses_with_its_own_reason()
    {
        Assert.Equal(IntakeRefusal.UnknownUser, Check(null));
        Assert.Equal(IntakeRefusal.UserDisabled, Check(User(disabled: true)));
        Assert.Equal(IntakeRefusal.NdaExpired, Check(User(nda: s_now)));
        Assert.Equal(IntakeRefusal.NotAnAnalyst, Check(User(roles: Role.Reviewer)));
        Assert.Equal(IntakeRefusal.NotAnAnalyst, Check(User(roles: [Role.Auditor, Role.Admin])));
        Assert.Equal(IntakeRefusal.NoCase, Check(User(), number: null));
        Assert.Equal(IntakeRefusal.NoCase, NetworkGate.Check(User(), "alice", " ", null, s_policy, s_now)?.Refusal);
        Assert.Equal(IntakeRefusal.UnknownCase, NetworkGate.Check(User(), "alice", "C-404", null, s_policy, s_now)?.Refusal);
        Assert.Equal(IntakeRefusal.CaseClosed, Check(User(), found: Case(status: CaseStatus.Closed)));
        Assert.Equal(IntakeRefusal.OffenceNotAllowed, Check(User(), found: Case(offence: "shoplifting")));
        Assert.Equal(IntakeRefusal.AuthorisationExpired, Check(User(), found: Case(until: s_now)));
        Assert.Equal(IntakeRefusal.NotAssigned, Check(User(), found: Case(assigned: "bob")));
    }

    [Fact]
    public void A_refusal_carries_a_message_naming_what_is_wrong_and_the_exception_its_code()
    {
        var refusal = NetworkGate.Check(User(), "alice", "C-7", Case(assigned: "bob"), s_policy, s_now);
        Assert.NotNull(refusal);
        Assert.Contains("C-7", refusal.Value.Message, StringComparison.Ordinal);
        var exception = new NetworkRefusedException(refusal.Value.Refusal, refusal.Value.Message);
        Assert.Equal("not_assigned", exception.Code);
        Assert.True(NetworkGate.MaxHops < NetworkGate.MaxPathHops);
    }
}
