using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Lineup.Core.Oversight;
using Lineup.Hosting;
using Spectre.Console;

namespace Lineup.Cli.Commands;

/// <summary>
/// <c>lineup retention</c>: the time-to-live of probe photos, candidate lists and audit events, and the sweep that removes
/// what expired (cases on legal hold keep everything; audit events are pruned, never deleted). Changes and sweeps are
/// audited as the operating-system user of the CLI. Needs no models: retention never touches the gallery or its index.
/// </summary>
public static class RetentionCommands
{
    public static Command Build()
    {
        var retention = new Command("retention", "Time-to-live of probe photos, candidate lists and audit events: show, set, sweep");
        retention.Subcommands.Add(Show());
        retention.Subcommands.Add(Set());
        retention.Subcommands.Add(Sweep());
        return retention;
    }

    private static Command Show()
    {
        var json = new Option<bool>("--json") { Description = "Print as JSON" };
        var command = new Command("show", "The time-to-live of each data class") { json };
        command.SetAction((parse, ct) => GlobalOptions.RunAsync(async () =>
        {
            await using var catalog = await LineupEngine.OpenCatalogAsync(GlobalOptions.Resolve(parse), ct);
            var settings = await RetentionSweeper.Store(catalog).GetRetentionAsync(ct);
            if (parse.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(settings, SearchCommands.Json));
                return ExitCodes.Ok;
            }

            var table = new Table().AddColumns("data class", "time-to-live", "set", "holds");
            foreach (var s in settings)
            {
                table.AddRow(
                    s.DataClass, string.Create(CultureInfo.InvariantCulture, $"{s.TtlDays:N0} days"),
                    s.SetAt is { } at ? Markup.Escape($"{at.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture)} by {s.SetBy}") : "[grey]default[/]",
                    Markup.Escape(DataClasses.Describe(s.DataClass)));
            }

            AnsiConsole.Write(table);
            AnsiConsole.MarkupLine("[grey]Cases on legal hold keep their probe photos and candidate lists past these; audit events are pruned by age only.[/]");
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command Set()
    {
        var dataClass = new Argument<string>("class") { Description = $"The data class: {string.Join(", ", DataClasses.All)}" };
        var days = new Argument<int>("days") { Description = "Its time-to-live in days (audit_events must be at least candidate_lists)" };
        var json = new Option<bool>("--json") { Description = "Print as JSON" };
        var command = new Command("set", "Set a data class's time-to-live (audited)") { dataClass, days, json };
        command.SetAction((parse, ct) => GlobalOptions.RunAsync(async () =>
        {
            await using var catalog = await LineupEngine.OpenCatalogAsync(GlobalOptions.Resolve(parse), ct);
            var set = await RetentionSweeper.Store(catalog).SetRetentionAsync(parse.GetValue(dataClass)!, parse.GetValue(days), EraseCommands.Actor, ct);
            if (parse.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(set, SearchCommands.Json));
                return ExitCodes.Ok;
            }

            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{set.DataClass}: kept {set.TtlDays:N0} days (takes effect at the next sweep)."));
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command Sweep()
    {
        var json = new Option<bool>("--json") { Description = "Print the report as JSON" };
        var command = new Command("sweep", "Remove what has expired now (receipt in the audit log), then compact the files") { json };
        command.SetAction((parse, ct) => GlobalOptions.RunAsync(async () =>
        {
            var options = GlobalOptions.Resolve(parse);
            await using var catalog = await LineupEngine.OpenCatalogAsync(options, ct);
            var sweep = await RetentionSweeper.SweepAsync(catalog, options.Clock, EraseCommands.Actor, ct);
            if (parse.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(sweep.Report, SearchCommands.Json));
                return ExitCodes.Ok;
            }

            Print(sweep);
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static void Print(RetentionSweep sweep)
    {
        var r = sweep.Report;
        static string Day(DateTimeOffset t) => t.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Swept at {Day(r.At)}Z in {sweep.Elapsed.TotalSeconds:0.00} s:"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  probe photos before {Day(r.Cutoffs.ProbeImages)}:    {r.ProbesDeleted:N0} deleted, {r.ProbesHeld:N0} kept on legal hold"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  candidate lists before {Day(r.Cutoffs.CandidateLists)}: {r.CandidateListsDeleted:N0} deleted ({r.CandidatesDeleted:N0} candidates, {r.DecisionsDeleted:N0} decisions), {r.CandidateListsHeld:N0} kept on legal hold"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  audit events before {Day(r.Cutoffs.AuditEvents)}:    {r.AuditEventsPruned:N0} pruned (pruned through event {r.PrunedThrough:N0})"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  cases on legal hold: {r.HeldCases:N0}"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  receipt: audit event {r.AuditSeq:N0}"));
    }
}
