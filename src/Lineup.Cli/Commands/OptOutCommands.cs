using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Lineup.Core.Oversight;
using Lineup.Hosting;
using Spectre.Console;

namespace Lineup.Cli.Commands;

/// <summary>
/// <c>lineup optout</c>: the opt-out registry. <c>add</c> records a request from photos of the person (the embeddings of
/// their faces are kept, never the photos), erases every matching gallery face with a receipt in the audit log, and from
/// then on matching faces are not stored at ingest and never returned by search. <c>list</c> needs no models.
/// </summary>
public static class OptOutCommands
{
    public static Command Build()
    {
        var optout = new Command("optout", "The opt-out registry: people who asked not to be in the gallery or searched for");
        optout.Subcommands.Add(Add());
        optout.Subcommands.Add(List());
        return optout;
    }

    private static Command Add()
    {
        var reference = new Option<string>("--reference")
        {
            Description = "The request's reference, e.g. its ticket or letter number (recorded and audited)",
            Required = true,
        };
        var note = new Option<string?>("--note") { Description = "A note for administrators (recorded, not audited)" };
        var json = new Option<bool>("--json") { Description = "Print the result as JSON" };
        var photos = new Argument<string[]>("photos")
        {
            Description = $"1 to {NewOptOut.MaxEmbeddings} photos of the person (the most prominent face of each is used)",
            Arity = new ArgumentArity(1, NewOptOut.MaxEmbeddings),
        };
        var command = new Command(
            "add", "Record an opt-out request: the person's gallery faces are erased, and matching faces are never stored or returned again")
        {
            reference, note, json, photos,
        };
        command.SetAction((parse, ct) => GlobalOptions.RunAsync(async () =>
        {
            var options = GlobalOptions.Resolve(parse);
            var read = new List<OptOutPhoto>();
            foreach (var path in parse.GetValue(photos)!)
            {
                read.Add(new OptOutPhoto(path, await SearchCommands.ReadPhotoAsync(path, options.Limits.MaxBytes, ct)));
            }

            var asJson = parse.GetValue(json);
            await using var engine = await LineupEngine.OpenAsync(options, GlobalOptions.Progress(parse), ct);
            var result = await engine.RecordOptOutAsync(
                parse.GetValue(reference)!, parse.GetValue(note), read, EraseCommands.Actor, asJson ? null : GlobalOptions.Progress(parse), ct);
            if (asJson)
            {
                Console.WriteLine(JsonSerializer.Serialize(
                    new
                    {
                        result.Request,
                        result.Photos,
                        result.Receipt,
                        result.Threshold,
                        result.Compared,
                        ElapsedMs = result.Elapsed.TotalMilliseconds,
                    },
                    SearchCommands.Json));
            }
            else
            {
                Print(result);
            }

            // A photo without a face was passed over: the request stands on the others, but the operator should know.
            return result.Photos.Any(p => p.Refusal is not null) ? ExitCodes.Partial : ExitCodes.Ok;
        }));
        return command;
    }

    private static Command List()
    {
        var json = new Option<bool>("--json") { Description = "Print the requests as JSON" };
        var command = new Command("list", "The recorded opt-out requests, newest first (never their embeddings)") { json };
        command.SetAction((parse, ct) => GlobalOptions.RunAsync(async () =>
        {
            await using var catalog = await LineupEngine.OpenCatalogAsync(GlobalOptions.Resolve(parse), ct);
            var store = catalog as IOptOutStore ?? throw new InvalidOperationException("This catalog keeps no opt-out registry.");
            var requests = await store.ListOptOutsAsync(ct);
            if (parse.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(requests, SearchCommands.Json));
                return ExitCodes.Ok;
            }

            if (requests.Count == 0)
            {
                Console.WriteLine("No opt-out requests are recorded.");
                return ExitCodes.Ok;
            }

            var table = new Table().AddColumns("id", "reference", "recorded", "by", "photos", "faces erased", "note");
            foreach (var r in requests)
            {
                table.AddRow(
                    r.Id.ToString(CultureInfo.InvariantCulture), Markup.Escape(r.Reference), r.RecordedAt.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture),
                    Markup.Escape(r.RecordedBy), r.Photos.ToString(CultureInfo.InvariantCulture), r.FacesErased.ToString(CultureInfo.InvariantCulture),
                    Markup.Escape(r.Note ?? ""));
            }

            AnsiConsole.Write(table);
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static void Print(OptOutResult result)
    {
        var request = result.Request;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Opt-out request {request.Id} ({request.Reference}) recorded at {request.RecordedAt:yyyy-MM-dd HH:mm:ss}Z in {result.Elapsed.TotalSeconds:0.00} s."));
        foreach (var photo in result.Photos)
        {
            Console.WriteLine(photo.Refusal is { } refusal
                ? $"  {photo.Name}: not used: {refusal}"
                : photo.FacesInPhoto == 1
                    ? $"  {photo.Name}: its face"
                    : string.Create(CultureInfo.InvariantCulture, $"  {photo.Name}: face {photo.Face} of {photo.FacesInPhoto}, the most prominent"));
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  {result.Compared:N0} gallery faces compared at similarity {result.Threshold:0.000}; {request.FacesErased:N0} erased."));
        if (result.Receipt is { } receipt)
        {
            Console.WriteLine(receipt.AuditSeq is { } seq
                ? string.Create(CultureInfo.InvariantCulture, $"  erasure receipt: audit event {seq}")
                : "  erasure receipt: (this catalog keeps no audit log)");
        }

        Console.WriteLine("  From now on matching faces are not stored at ingest, and searches for the person return no candidates.");
    }
}
