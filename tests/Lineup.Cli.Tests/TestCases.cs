using Lineup.Core.Oversight;
using Lineup.Core.Security;
using Lineup.Hosting;

namespace Lineup.Cli.Tests;

/// <summary>
/// Every search needs a case, a cleared analyst assigned to it and an attested probe. Tests that are about something
/// else use this one: <see cref="PrepareAsync"/> once per data directory, then <see cref="Request"/>.
/// </summary>
internal static class TestCases
{
    public const string Analyst = "t-analyst";
    public const string Number = "T-0001";

    /// <summary>Creates (if missing) the analyst with clearances for a year and the open case they are assigned to.</summary>
    public static async Task PrepareAsync(LineupEngine engine, string analyst = Analyst, string number = Number)
    {
        var now = engine.Options.Clock.GetUtcNow();
        if (await engine.Users.FindUserAsync(analyst) is null)
        {
            await engine.Users.AddUserAsync(analyst, null, [Role.Analyst], null);
        }

        await engine.Cases.SetClearanceAsync(analyst, now.AddYears(1), now.AddYears(1), "tests");
        if (await engine.Cases.FindCaseAsync(number) is null)
        {
            await engine.Cases.OpenCaseAsync(new NewCase(number, "robbery", "tests", "W-TEST", now.AddYears(1)), "tests");
        }

        await engine.Cases.AssignAsync(number, analyst, "tests");
    }

    /// <summary>The options that make a <c>lineup search</c> run by the prepared analyst for the prepared case.</summary>
    public static readonly string[] CliSearch = ["--case", Number, "--source", ProbeSources.FieldPhoto, "--as", Analyst];

    /// <summary>What <see cref="PrepareAsync"/> does, through the CLI (<c>users add</c>, <c>users clearance</c>, <c>cases open --assign</c>).</summary>
    public static async Task PrepareCliAsync(string[] common)
    {
        var until = DateTime.UtcNow.AddYears(1).ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);
        foreach (var args in new[]
        {
            new[] { "users", "add", Analyst, "--roles", "analyst" },
            ["users", "clearance", Analyst, "--nda-until", until, "--training-until", until],
            ["cases", "open", Number, "--offence", "robbery", "--purpose", "tests", "--authorisation", "W-TEST", "--authorised-until", until, "--assign", Analyst],
        })
        {
            var run = await CliProcess.RunAsync([.. common, .. args]);
            Assert.True(run.ExitCode == ExitCodes.Ok, $"{string.Join(' ', args)}: {run.Stderr}");
        }
    }

    /// <summary>A search request by the prepared analyst for the prepared case, attested as a field photo.</summary>
    public static SearchRequest Request(byte[] photo, string name = "the probe photo") =>
        new(photo, name) { By = Analyst, CaseNumber = Number, ProbeSource = ProbeSources.FieldPhoto };
}
