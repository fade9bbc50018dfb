using System.CommandLine;
using Lineup.Hosting;
using Lineup.Server;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Spectre.Console;

namespace Lineup.Cli.Commands;

/// <summary><c>lineup serve</c>: the analyst server and web UI over this data directory.</summary>
public static class ServeCommand
{
    public static Command Build()
    {
        var urls = new Option<string?>("--urls") { Description = "Where to listen (default Lineup:Server:Urls, http://127.0.0.1:5080)" };
        var sample = new Option<bool>("--sample") { Description = "Fetch and ingest the sample gallery first (as `lineup demo` does)" };
        var from = new Option<string?>("--from") { Description = "With --sample: a local copy of the sample package tarball" };
        var command = new Command("serve", "Run the analyst server (HTTP API and web UI) on this data directory") { urls, sample, from };
        command.SetAction((parse, ct) => GlobalOptions.RunAsync(async () =>
        {
            var options = GlobalOptions.Resolve(parse);
            var progress = GlobalOptions.Progress(parse);
            if (parse.GetValue(sample))
            {
                await using var engine = await LineupEngine.OpenAsync(options, progress, ct);
                await DemoCommand.IngestSamplesAsync(engine, parse.GetValue(from), progress, parse.GetValue(GlobalOptions.Quiet), ct);
            }

            var settings = new Dictionary<string, string?>
            {
                [$"{LineupOptions.Section}:{nameof(LineupOptions.DataDirectory)}"] = options.FullDataDirectory,
                [$"{LineupOptions.Section}:{nameof(LineupOptions.ModelsDirectory)}"] = options.FullModelsDirectory,
            };
            if (parse.GetValue(urls) is { Length: > 0 } listen)
            {
                settings[$"{ServerOptions.Section}:{nameof(ServerOptions.Urls)}"] = listen;
            }

            await using var app = LineupServer.Build([], settings);
            progress.Report("Opening the models, catalog and index…");
            await app.StartAsync(ct);
            if (await LineupServer.EnsureFirstUserAsync(app, ct) is { } password)
            {
                AnsiConsole.MarkupLine("[yellow]No users existed: created [bold]admin[/] (roles admin, analyst).[/]");
                AnsiConsole.MarkupLineInterpolated($"[yellow]Its password, shown this once: [bold]{password}[/][/]");
                AnsiConsole.MarkupLine("[yellow]Add named users with `lineup users add`, then disable admin or change its password (`lineup users password admin`).[/]");
            }

            if (parse.GetValue(sample))
            {
                // The bootstrap admin also has the analyst role: the sample case lets it search at once.
                var engine = app.Services.GetRequiredService<LineupEngine>();
                await DemoCommand.EnsureSampleCaseAsync(engine, "admin", createUser: false, progress, ct);
            }

            foreach (var address in LineupServer.Addresses(app))
            {
                AnsiConsole.MarkupLineInterpolated($"Lineup is listening on [bold]{address}[/] (API reference: {address.TrimEnd('/')}/scalar). Ctrl+C stops it.");
            }

            await app.WaitForShutdownAsync(ct);
            return ExitCodes.Ok;
        }));
        return command;
    }
}
