using System.CommandLine;
using Lineup.Hosting;

namespace Lineup.Cli.Commands;

public static class IndexCommands
{
    public static Command Build()
    {
        var rebuild = new Command("rebuild", "Rebuild the vector index from the catalog (the catalog is the truth)");
        rebuild.SetAction((parse, ct) => GlobalOptions.RunAsync(async () =>
        {
            var options = GlobalOptions.Resolve(parse);
            var progress = GlobalOptions.Progress(parse);
            await using var engine = await LineupEngine.OpenAsync(options, progress, ct);
            var report = await engine.RebuildIndexAsync(progress, ct);
            Console.WriteLine(report);
            return ExitCodes.Ok;
        }));
        return new Command("index", "Manage the derived vector index") { rebuild };
    }
}
