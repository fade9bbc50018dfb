using System.CommandLine;
using System.Text.Json;
using Lineup.Core.Catalog;
using Lineup.Hosting;
using Spectre.Console;

namespace Lineup.Cli.Commands;

public static class StatsCommand
{
    public static Command Build()
    {
        var json = new Option<bool>("--json") { Description = "Print as JSON" };
        var command = new Command("stats", "Counts of collections, images and faces, and the index state") { json };
        command.SetAction((parse, ct) => GlobalOptions.RunAsync(async () =>
        {
            var options = GlobalOptions.Resolve(parse);
            await using var engine = await LineupEngine.OpenAsync(options, GlobalOptions.Progress(parse), ct);
            var stats = await engine.Catalog.GetStatsAsync(ct);
            var collections = await engine.Catalog.ListCollectionsAsync(ct);
            var basis = engine.Catalog is IEmbeddingBases bases ? await bases.GetEmbeddingBasisAsync(ct) : null;
            if (parse.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(new { stats, indexCount = engine.Index.Count, collections, embeddingBasis = basis }, SearchCommands.Json));
                return ExitCodes.Ok;
            }

            var table = new Table().AddColumns("catalog", "value");
            table.AddRow("data directory", Markup.Escape(options.FullDataDirectory));
            table.AddRow("collections", stats.Collections.ToString());
            table.AddRow("images", stats.Images.ToString());
            table.AddRow("faces", stats.Faces.ToString());
            table.AddRow("indexed faces", engine.Index.Count.ToString());
            table.AddRow("schema version", stats.SchemaVersion.ToString());
            table.AddRow("model", engine.Catalog.ModelId);
            table.AddRow("embedding basis", basis is null
                ? "none: embeddings int8 (fitted at 20,000 faces, or by lineup catalog compact)"
                : Markup.Escape(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                    $"{basis.Id}: {basis.Components} of {basis.Dimensions} directions, fitted on {basis.SampleFaces:N0} faces at {basis.FittedAt:u}")));
            AnsiConsole.Write(table);
            foreach (var c in collections)
            {
                AnsiConsole.MarkupLineInterpolated($"  {c.Name}: lawful basis \"{c.LawfulBasis}\", jurisdiction {c.Jurisdiction ?? "-"}");
            }

            return ExitCodes.Ok;
        }));
        return command;
    }
}
