using System.CommandLine;
using System.Text.Json;
using Lineup.Hosting;
using Spectre.Console;

namespace Lineup.Cli.Commands;

public static class SearchCommands
{
    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public static Command BuildSearch()
    {
        var photo = new Argument<string>("photo") { Description = "Probe photo" };
        var top = new Option<int>("--top", "-k") { Description = "Number of candidates", DefaultValueFactory = _ => 10 };
        var face = new Option<int?>("--face") { Description = "Which probe face to search (1 = most confident); default: the most prominent" };
        var json = new Option<bool>("--json") { Description = "Print the result as JSON" };
        var command = new Command("search", "Search the gallery for the face in a probe photo (1:N)") { photo, top, face, json };
        command.SetAction((parse, ct) => GlobalOptions.RunAsync(async () =>
        {
            var k = parse.GetValue(top);
            if (k is < 1 or > 1000)
            {
                return GlobalOptions.Fail(ExitCodes.BadInput, "--top must be between 1 and 1000.");
            }

            var path = parse.GetValue(photo)!;
            var bytes = await ReadPhotoAsync(path, ct);
            var options = GlobalOptions.Resolve(parse);
            await using var engine = await LineupEngine.OpenAsync(options, GlobalOptions.Progress(parse), ct);
            var result = await engine.SearchAsync(bytes, k, parse.GetValue(face), ct, path);
            if (parse.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(result, Json));
                return ExitCodes.Ok;
            }

            Print(result);
            return ExitCodes.Ok;
        }));
        return command;
    }

    public static Command BuildVerify()
    {
        var a = new Argument<string>("a") { Description = "First photo" };
        var b = new Argument<string>("b") { Description = "Second photo" };
        var json = new Option<bool>("--json") { Description = "Print the result as JSON" };
        var command = new Command("verify", "Compare the most prominent face of two photos (1:1)") { a, b, json };
        command.SetAction((parse, ct) => GlobalOptions.RunAsync(async () =>
        {
            var first = await ReadPhotoAsync(parse.GetValue(a)!, ct);
            var second = await ReadPhotoAsync(parse.GetValue(b)!, ct);
            var options = GlobalOptions.Resolve(parse);
            await using var engine = await LineupEngine.OpenForAnalysisAsync(options, GlobalOptions.Progress(parse), ct);
            var result = engine.Verify(first, second, parse.GetValue(a)!, parse.GetValue(b)!);
            if (parse.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(result, Json));
            }
            else
            {
                AnsiConsole.MarkupLineInterpolated(
                    $"similarity [bold]{result.Similarity:0.000}[/] (threshold {result.Threshold:0.00}): {(result.SamePerson ? "[green]likely the same person[/]" : "[yellow]likely different people[/]")}");
                AnsiConsole.MarkupLine("[grey]An investigative lead, not an identification: a person must review it.[/]");
            }

            return ExitCodes.Ok;
        }));
        return command;
    }

    internal static async Task<byte[]> ReadPhotoAsync(string path, CancellationToken ct)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"{path}: no such file.");
        }

        return await File.ReadAllBytesAsync(path, ct);
    }

    private static void Print(SearchResult result)
    {
        AnsiConsole.MarkupLineInterpolated(
            $"Probe {result.Probe.Format} {result.Probe.Width}×{result.Probe.Height}: {result.ProbeFaces.Count} face(s); searching face {result.SearchedFace} against {result.GallerySize:N0} gallery faces.");
        var table = new Table().AddColumns("rank", "similarity", "", "image", "source", "face box");
        foreach (var c in result.Candidates)
        {
            var source = c.Image.Provenance.SourceUrl ?? c.Image.Provenance.OriginalPath ?? "";
            var places = c.Sightings.Select(s => s.Provenance.PageUrl ?? s.Provenance.SourceUrl ?? s.Provenance.OriginalPath).Distinct().Count();
            if (places > 1)
            {
                source += $" (seen at {places} places)";
            }

            table.AddRow(
                c.Rank.ToString(),
                c.Similarity.ToString("0.000"),
                c.AboveThreshold ? "[green]above threshold[/]" : "[grey]below[/]",
                c.Image.Id.ToString(),
                Markup.Escape(source),
                c.Face.Box.ToString());
        }

        AnsiConsole.Write(table);
        if (result.GallerySize == 0)
        {
            AnsiConsole.MarkupLine("[yellow]The gallery is empty: add photos with `lineup ingest <folder> --collection NAME --lawful-basis TEXT`.[/]");
        }
        else if (!result.Candidates.Any(c => c.AboveThreshold))
        {
            AnsiConsole.MarkupLineInterpolated($"[yellow]No candidate above the threshold {result.Threshold:0.00}.[/]");
        }

        AnsiConsole.MarkupLine("[grey]Candidates are investigative leads, not identifications.[/]");
    }
}
