using System.CommandLine;
using System.Text.Json;
using System.Globalization;
using Lineup.Core.Catalog;
using Lineup.Core.Imaging;
using Lineup.Hosting;
using Spectre.Console;

namespace Lineup.Cli.Commands;

public static class SearchCommands
{
    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() },
    };

    public static Command BuildSearch()
    {
        var photo = new Argument<string>("photo") { Description = "Probe photo" };
        var top = new Option<int>("--top", "-k") { Description = "Number of candidates", DefaultValueFactory = _ => 10 };
        var face = new Option<int?>("--face") { Description = "Which probe face to search (numbers as listed); default: the most prominent (largest, most central)" };
        var json = new Option<bool>("--json") { Description = "Print the result as JSON" };
        var collections = new Option<string[]>("--collection") { Description = "Only faces of these collections (repeatable)", AllowMultipleArgumentsPerToken = true };
        var jurisdictions = new Option<string[]>("--jurisdiction") { Description = "Only collections of these ISO 3166 jurisdictions (repeatable; US matches US-IL)", AllowMultipleArgumentsPerToken = true };
        var domains = new Option<string[]>("--domain") { Description = "Only photos seen on these hosts or their subdomains (repeatable)", AllowMultipleArgumentsPerToken = true };
        var from = new Option<string?>("--captured-from") { Description = "Only photos captured on or after this date (yyyy-mm-dd or ISO 8601)" };
        var to = new Option<string?>("--captured-to") { Description = "Only photos captured on or before this date (a bare date includes the whole day)" };
        var overrideQuality = new Option<string?>("--override-quality") { Description = "Search a probe under the quality floor anyway; the reason is recorded with the search" };
        var caseNumber = new Option<string?>("--case") { Description = "The case the search is for (required: open, authorised, and the user assigned to it)" };
        var source = new Option<string?>("--source")
        {
            Description = $"What the probe is (required): {string.Join(", ", Core.Oversight.ProbeSources.Accepted)}; sketches, composites, look-alikes, edited and generated images are refused",
        };
        var command = new Command("search", "Search the gallery for the face in a probe photo (1:N), for a case")
        {
            photo, top, face, json, collections, jurisdictions, domains, from, to, overrideQuality, caseNumber, source, As,
        };
        command.SetAction((parse, ct) => GlobalOptions.RunAsync(async () =>
        {
            var k = parse.GetValue(top);
            if (k is < 1 or > 1000)
            {
                return GlobalOptions.Fail(ExitCodes.BadInput, "--top must be between 1 and 1000.");
            }

            var filter = new SearchFilter(
                NullIfEmpty(parse.GetValue(collections)),
                NullIfEmpty(parse.GetValue(jurisdictions)),
                NullIfEmpty(parse.GetValue(domains)),
                SearchFilter.ParseCaptureBound(parse.GetValue(from), "--captured-from", endOfDay: false),
                SearchFilter.ParseCaptureBound(parse.GetValue(to), "--captured-to", endOfDay: true)).Normalize();
            var path = parse.GetValue(photo)!;
            var options = GlobalOptions.Resolve(parse);
            var bytes = await ReadPhotoAsync(path, options.Limits.MaxBytes, ct);
            await using var engine = await LineupEngine.OpenAsync(options, GlobalOptions.Progress(parse), ct);
            var request = new SearchRequest(bytes, path)
            {
                Top = k,
                Face = parse.GetValue(face),
                Filter = filter,
                QualityOverride = parse.GetValue(overrideQuality),
                CaseNumber = parse.GetValue(caseNumber),
                ProbeSource = parse.GetValue(source),
                By = User(parse),
            };
            SearchResult result;
            try
            {
                result = await engine.SearchAsync(request, ct);
            }
            catch (ProbeQualityException e)
            {
                return GlobalOptions.Fail(ExitCodes.LowQuality, $"{e.Message} Use --override-quality \"reason\" to search it anyway (search {e.SearchId} recorded the refusal).");
            }

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

    /// <summary>The catalog user the CLI acts as where one is required (searching, reviewing): <c>--as</c>, else LINEUP_USER, else the OS user.</summary>
    internal static readonly Option<string?> As = new("--as") { Description = "The Lineup user acting (default: $LINEUP_USER, else the operating-system user name)" };

    internal static string User(ParseResult parse) =>
        parse.GetValue(As) is { Length: > 0 } name ? name
        : Environment.GetEnvironmentVariable("LINEUP_USER") is { Length: > 0 } env ? env
        : Environment.UserName;

    private static string[]? NullIfEmpty(string[]? values) => values is { Length: > 0 } ? values : null;

    /// <summary>A bare date is the start of that day (or, for an upper bound, its last moment) in UTC.</summary>
    public static Command BuildVerify()
    {
        var a = new Argument<string>("a") { Description = "First photo" };
        var b = new Argument<string>("b") { Description = "Second photo" };
        var json = new Option<bool>("--json") { Description = "Print the result as JSON" };
        var command = new Command("verify", "Compare the most prominent face of two photos (1:1)") { a, b, json };
        command.SetAction((parse, ct) => GlobalOptions.RunAsync(async () =>
        {
            var options = GlobalOptions.Resolve(parse);
            var first = await ReadPhotoAsync(parse.GetValue(a)!, options.Limits.MaxBytes, ct);
            var second = await ReadPhotoAsync(parse.GetValue(b)!, options.Limits.MaxBytes, ct);
            await using var engine = await LineupEngine.OpenForAnalysisAsync(options, GlobalOptions.Progress(parse), ct);
            var result = engine.Verify(first, second, parse.GetValue(a)!, parse.GetValue(b)!);
            if (parse.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(result, Json));
            }
            else
            {
                AnsiConsole.MarkupLineInterpolated(
                    $"similarity [bold]{result.Similarity:0.000}[/] (threshold {result.Threshold:0.000}): {(result.SamePerson ? "[green]likely the same person[/]" : "[yellow]likely different people[/]")}");
                if (result.EstimatedFmr is { } fmr)
                {
                    AnsiConsole.MarkupLineInterpolated($"[grey]Two different people score this high in an estimated {Rate(fmr)} of comparisons.[/]");
                }

                foreach (var (label, f) in new[] { ("first", result.FaceA), ("second", result.FaceB) })
                {
                    if (f.BelowFloor)
                    {
                        AnsiConsole.MarkupLineInterpolated($"[yellow]The {label} photo's face has quality {f.Quality?.Score:0}/100, under the probe floor: treat the score with caution.[/]");
                    }
                }
                AnsiConsole.MarkupLine("[grey]An investigative lead, not an identification: a person must review it.[/]");
            }

            return ExitCodes.Ok;
        }));
        return command;
    }

    /// <summary>Reads a probe photo, refusing a missing file or one over the byte limit before reading it.</summary>
    internal static async Task<byte[]> ReadPhotoAsync(string path, long maxBytes, CancellationToken ct)
    {
        var info = new FileInfo(path);
        if (!info.Exists)
        {
            throw new FileNotFoundException($"{path}: no such file.");
        }

        if (info.Length > maxBytes)
        {
            throw new ImageRejectedException(
                ImageRejection.TooManyBytes, $"{path}: the file is {info.Length:N0} bytes, more than the {maxBytes:N0}-byte limit (Lineup:Decode:MaxBytes).");
        }

        return await File.ReadAllBytesAsync(path, ct);
    }

    /// <summary>
    /// A rate as a percentage, or as "1 in N" when it is small. Below 10⁻⁷ only a bound is shown: the calibration
    /// measured impostor rates down to about 10⁻⁶, and further digits would be the fitted tail's guess.
    /// </summary>
    internal static string Rate(double rate) => rate switch
    {
        >= 0.001 => rate.ToString("P2", CultureInfo.InvariantCulture),
        >= 1e-7 => string.Create(CultureInfo.InvariantCulture, $"1 in {1 / rate:N0}"),
        _ => "< 1 in 10,000,000",
    };

    private static void Print(SearchResult result)
    {
        AnsiConsole.MarkupLineInterpolated(
            $"Probe {result.Probe.Format} {result.Probe.Width}×{result.Probe.Height}: {result.ProbeFaces.Count} face(s).");
        if (result.ProbeFaces.Count > 1 || result.ProbeFaces.Any(f => f.BelowFloor))
        {
            var faces = new Table().AddColumns("face", "box", "eyes apart", "quality", "");
            foreach (var f in result.ProbeFaces)
            {
                faces.AddRow(
                    f.Number == result.SearchedFace ? $"[bold]{f.Number}[/] (searched)" : f.Number.ToString(CultureInfo.InvariantCulture),
                    f.Box.ToString(),
                    $"{f.InterEyeDistance:0} px",
                    f.Quality is { } q ? $"{q.Score:0}" : "–",
                    f.BelowFloor ? "[yellow]under the floor[/]" : "");
            }

            AnsiConsole.Write(faces);
        }

        var searched = result.ProbeFaces[result.SearchedFace - 1];
        AnsiConsole.MarkupLineInterpolated(
            $"Searched {result.FaceChoice}; quality {searched.Quality?.Score:0}/100 (floor {result.QualityFloor:0}); against {result.SearchedFaces:N0} of {result.GallerySize:N0} gallery faces (filter: {result.Filter}).");
        if (result.QualityOverride is { } reason)
        {
            AnsiConsole.MarkupLineInterpolated($"[yellow]Quality floor overridden, reason recorded: {reason}[/]");
        }

        var table = new Table().AddColumns("rank", "similarity", "est. FMR", "expected false ≥ this", "", "image", "source", "face box");
        foreach (var c in result.Candidates)
        {
            var source = c.Image.Provenance.SourceUrl ?? c.Image.Provenance.OriginalPath ?? "";
            var places = c.Sightings.Select(s => s.Provenance.PageUrl ?? s.Provenance.SourceUrl ?? s.Provenance.OriginalPath).Distinct().Count();
            if (places > 1)
            {
                source += $" (seen at {places} places)";
            }

            table.AddRow(
                c.Rank.ToString(CultureInfo.InvariantCulture),
                c.Similarity.ToString("0.000", CultureInfo.InvariantCulture),
                c.EstimatedFmr is { } fmr ? Rate(fmr) : "–",
                c.ExpectedFalseCandidates is { } expected ? expected.ToString(expected < 10 ? "0.###" : "N0", CultureInfo.InvariantCulture) : "–",
                c.AboveThreshold ? "[green]above threshold[/]" : "[grey]below[/]",
                c.Image.Id.ToString(CultureInfo.InvariantCulture),
                Markup.Escape(source),
                c.Face.Box.ToString());
        }

        AnsiConsole.Write(table);
        if (result.GallerySize == 0)
        {
            AnsiConsole.MarkupLine("[yellow]The gallery is empty: add photos with `lineup ingest <folder> --collection NAME --lawful-basis TEXT --jurisdiction CC`.[/]");
        }
        else if (result.Outcome == SearchOutcome.NoCandidateAboveThreshold)
        {
            AnsiConsole.MarkupLineInterpolated(
                $"[yellow bold]No candidate above the threshold {result.Threshold:0.000}[/][yellow] (estimated FMR {(result.ThresholdFmr is { } t ? Rate(t) : "unknown")} per comparison): the gallery searched holds no likely match.[/]");
        }

        AnsiConsole.MarkupLineInterpolated(
            $"[grey]Candidates are investigative leads, not identifications. \"expected false\" = estimated FMR × {result.SearchedFaces:N0} faces searched: how many different people are expected to score this high by chance. Search {result.SearchId} recorded.[/]");
    }
}
