using System.CommandLine;
using System.Globalization;
using Lineup.Core.Oversight;
using Lineup.Hosting;
using Spectre.Console;

namespace Lineup.Cli.Commands;

/// <summary>
/// <c>lineup cases</c>: every search belongs to a case with an offence from the allowlist, an authorisation and its expiry,
/// and assigned users (need-to-know). Changes are audited as the operating-system user of the CLI. Needs no models.
/// </summary>
public static class CasesCommands
{
    public static Command Build()
    {
        var cases = new Command("cases", "Cases searches belong to: open, list, show, assign, unassign, reauthorise, hold, release, close");
        cases.Subcommands.Add(Open());
        cases.Subcommands.Add(List());
        cases.Subcommands.Add(Show());
        cases.Subcommands.Add(Change("assign", "Assign a user to the case (need-to-know)", withUser: true,
            (store, number, user, by, ct) => store.AssignAsync(number, user!, by, ct)));
        cases.Subcommands.Add(Change("unassign", "Remove a user from the case", withUser: true,
            (store, number, user, by, ct) => store.UnassignAsync(number, user!, by, ct)));
        cases.Subcommands.Add(Change("close", "Close the case: no more searches", withUser: false,
            (store, number, _, by, ct) => store.CloseCaseAsync(number, by, ct)));
        cases.Subcommands.Add(Reauthorise());
        cases.Subcommands.Add(Hold("hold", "Put the case on legal hold: nothing of it expires", hold: true));
        cases.Subcommands.Add(Hold("release", "Lift the legal hold", hold: false));
        return cases;
    }

    private static Command Open()
    {
        var number = new Argument<string>("number") { Description = "The agency's case number (unique)" };
        var offence = new Option<string>("--offence") { Description = "Offence category, one of the configured allowlist", Required = true };
        var purpose = new Option<string>("--purpose") { Description = "Why faces are searched in this case", Required = true };
        var authorisation = new Option<string>("--authorisation") { Description = "Reference of the warrant, order or approval", Required = true };
        var until = new Option<string>("--authorised-until") { Description = "When the authorisation expires (yyyy-mm-dd: end of that day UTC, or ISO 8601)", Required = true };
        var assign = new Option<string[]>("--assign") { Description = "Users to assign (repeatable)", AllowMultipleArgumentsPerToken = true };
        var command = new Command("open", "Open a case") { number, offence, purpose, authorisation, until, assign };
        command.SetAction((parse, ct) => GlobalOptions.RunAsync(async () =>
        {
            var options = GlobalOptions.Resolve(parse);
            var policy = options.Oversight.Policy;
            var allowed = policy.FindOffence(parse.GetValue(offence))
                ?? throw new ArgumentException($"--offence: '{parse.GetValue(offence)}' is not on the list ({string.Join(", ", policy.Offences)}).");
            var expiry = ParseExpiry(parse.GetValue(until)!, "--authorised-until");
            if (expiry <= options.Clock.GetUtcNow())
            {
                throw new ArgumentException("--authorised-until must be in the future.");
            }

            await using var catalog = await LineupEngine.OpenCatalogAsync(options, ct);
            var store = Store(catalog);
            var opened = await store.OpenCaseAsync(
                new NewCase(parse.GetValue(number)!, allowed, parse.GetValue(purpose)!, parse.GetValue(authorisation)!, expiry), EraseCommands.Actor, ct);
            foreach (var user in parse.GetValue(assign) ?? [])
            {
                opened = await store.AssignAsync(opened.Number, user, EraseCommands.Actor, ct);
            }

            Print(opened, options.Clock.GetUtcNow());
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command List()
    {
        var user = new Option<string?>("--user") { Description = "Only the cases this user is assigned to" };
        var json = new Option<bool>("--json") { Description = "Print as JSON" };
        var command = new Command("list", "Every case, newest first") { user, json };
        command.SetAction((parse, ct) => GlobalOptions.RunAsync(async () =>
        {
            var options = GlobalOptions.Resolve(parse);
            await using var catalog = await LineupEngine.OpenCatalogAsync(options, ct);
            var cases = await Store(catalog).ListCasesAsync(parse.GetValue(user), ct);
            if (parse.GetValue(json))
            {
                Console.WriteLine(System.Text.Json.JsonSerializer.Serialize(cases, SearchCommands.Json));
                return ExitCodes.Ok;
            }

            var now = options.Clock.GetUtcNow();
            var table = new Table().AddColumns("number", "offence", "status", "authorised until", "hold", "assigned");
            foreach (var c in cases)
            {
                table.AddRow(
                    Markup.Escape(c.Number), Markup.Escape(c.Offence), State(c, now), c.AuthorisedUntil.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture),
                    c.LegalHold ? "[yellow]hold[/]" : "", Markup.Escape(string.Join(", ", c.AssignedUsers)));
            }

            AnsiConsole.Write(table);
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command Show()
    {
        var number = new Argument<string>("number");
        var json = new Option<bool>("--json") { Description = "Print as JSON" };
        var command = new Command("show", "One case with its authorisation, assignments and searches") { number, json };
        command.SetAction((parse, ct) => GlobalOptions.RunAsync(async () =>
        {
            var options = GlobalOptions.Resolve(parse);
            await using var catalog = await LineupEngine.OpenCatalogAsync(options, ct);
            var found = await Store(catalog).FindCaseAsync(parse.GetValue(number)!, ct);
            if (found is null)
            {
                return GlobalOptions.Fail(ExitCodes.NotFound, $"There is no case '{parse.GetValue(number)}'.");
            }

            var searches = catalog is Lineup.Core.Catalog.ISearchLog log ? await log.ListCaseSearchesAsync(found.Id, ct) : [];
            if (parse.GetValue(json))
            {
                Console.WriteLine(System.Text.Json.JsonSerializer.Serialize(new { Case = found, Searches = searches }, SearchCommands.Json));
                return ExitCodes.Ok;
            }

            Print(found, options.Clock.GetUtcNow());
            var table = new Table().AddColumns("search", "at", "by", "source", "outcome", "candidates");
            foreach (var s in searches)
            {
                table.AddRow(
                    s.Id.ToString(CultureInfo.InvariantCulture), s.At.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture), Markup.Escape(s.By),
                    Markup.Escape(s.ProbeSource ?? ""), Markup.Escape(s.Refusal is { } r ? $"refused: {r}" : s.Outcome.ToString()),
                    s.AboveThreshold.ToString(CultureInfo.InvariantCulture));
            }

            AnsiConsole.MarkupLineInterpolated($"{searches.Count} search(es):");
            AnsiConsole.Write(table);
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command Change(
        string verb, string description, bool withUser, Func<ICaseStore, string, string?, string, CancellationToken, Task<CaseRecord>> change)
    {
        var number = new Argument<string>("number");
        var user = new Argument<string>("user");
        var command = new Command(verb, description) { number };
        if (withUser)
        {
            command.Arguments.Add(user);
        }

        command.SetAction((parse, ct) => GlobalOptions.RunAsync(async () =>
        {
            var options = GlobalOptions.Resolve(parse);
            await using var catalog = await LineupEngine.OpenCatalogAsync(options, ct);
            var changed = await change(Store(catalog), parse.GetValue(number)!, withUser ? parse.GetValue(user) : null, EraseCommands.Actor, ct);
            Print(changed, options.Clock.GetUtcNow());
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command Reauthorise()
    {
        var number = new Argument<string>("number");
        var authorisation = new Option<string>("--authorisation") { Description = "Reference of the renewed authorisation", Required = true };
        var until = new Option<string>("--authorised-until") { Description = "Its expiry (yyyy-mm-dd or ISO 8601)", Required = true };
        var command = new Command("reauthorise", "Record a renewed authorisation and its expiry") { number, authorisation, until };
        command.SetAction((parse, ct) => GlobalOptions.RunAsync(async () =>
        {
            var options = GlobalOptions.Resolve(parse);
            var expiry = ParseExpiry(parse.GetValue(until)!, "--authorised-until");
            await using var catalog = await LineupEngine.OpenCatalogAsync(options, ct);
            var changed = await Store(catalog).ReauthoriseAsync(parse.GetValue(number)!, parse.GetValue(authorisation)!, expiry, EraseCommands.Actor, ct);
            Print(changed, options.Clock.GetUtcNow());
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command Hold(string verb, string description, bool hold)
    {
        var number = new Argument<string>("number");
        var reason = new Option<string>("--reason") { Description = "Why (recorded in the audit log)", Required = true };
        var command = new Command(verb, description) { number, reason };
        command.SetAction((parse, ct) => GlobalOptions.RunAsync(async () =>
        {
            var options = GlobalOptions.Resolve(parse);
            await using var catalog = await LineupEngine.OpenCatalogAsync(options, ct);
            var changed = await Store(catalog).SetLegalHoldAsync(parse.GetValue(number)!, hold, parse.GetValue(reason)!, EraseCommands.Actor, ct);
            Print(changed, options.Clock.GetUtcNow());
            return ExitCodes.Ok;
        }));
        return command;
    }

    /// <summary>A bare date is the end of that day in UTC (an authorisation "until 2027-03-31" covers the 31st).</summary>
    internal static DateTimeOffset ParseExpiry(string text, string option)
    {
        if (DateOnly.TryParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var day))
        {
            return new DateTimeOffset(day.ToDateTime(TimeOnly.MaxValue), TimeSpan.Zero);
        }

        return DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at)
            ? at.ToUniversalTime()
            : throw new FormatException($"{option}: '{text}' is not a date (yyyy-mm-dd) or an ISO 8601 time.");
    }

    private static string State(CaseRecord c, DateTimeOffset now) =>
        c.Status == CaseStatus.Closed ? "[grey]closed[/]" : c.IsAuthorisedAt(now) ? "[green]open[/]" : "[red]authorisation expired[/]";

    private static void Print(CaseRecord c, DateTimeOffset now)
    {
        AnsiConsole.MarkupLineInterpolated($"Case [bold]{c.Number}[/] ({c.Offence}): {State(c, now)}{(c.LegalHold ? ", [yellow]on legal hold[/]" : "")}");
        AnsiConsole.MarkupLineInterpolated($"  purpose: {c.Purpose}");
        AnsiConsole.MarkupLineInterpolated($"  authorisation: {c.AuthorisationReference}, until {c.AuthorisedUntil:yyyy-MM-dd HH:mm} UTC");
        AnsiConsole.MarkupLineInterpolated($"  assigned: {(c.AssignedUsers.Count == 0 ? "nobody" : string.Join(", ", c.AssignedUsers))}");
    }

    private static ICaseStore Store(Lineup.Core.Catalog.ICatalog catalog) =>
        catalog as ICaseStore ?? throw new InvalidOperationException("This catalog keeps no cases.");
}
