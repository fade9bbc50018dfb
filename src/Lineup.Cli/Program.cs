using System.CommandLine;
using Lineup.Cli.Commands;

namespace Lineup.Cli;

public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        var parse = BuildRoot().Parse(args);
        if (parse.Errors.Count > 0 && parse.Action is not System.CommandLine.Help.HelpAction)
        {
            // A usage error is bad input (exit 2), not a failure of the command.
            foreach (var error in parse.Errors)
            {
                await Console.Error.WriteLineAsync($"lineup: {error.Message}");
            }

            await Console.Error.WriteLineAsync("Run `lineup --help` (or `lineup COMMAND --help`) for usage.");
            return ExitCodes.BadInput;
        }

        return await parse.InvokeAsync();
    }

    public static RootCommand BuildRoot()
    {
        var root = new RootCommand("Lineup: accountable face search over operator-supplied photo collections.");
        foreach (var option in GlobalOptions.All)
        {
            root.Options.Add(option);
        }

        root.Subcommands.Add(ModelsCommands.Build());
        root.Subcommands.Add(IngestCommand.Build());
        root.Subcommands.Add(RunsCommands.Build());
        root.Subcommands.Add(SearchCommands.BuildSearch());
        root.Subcommands.Add(SearchCommands.BuildVerify());
        root.Subcommands.Add(StatsCommand.Build());
        root.Subcommands.Add(IndexCommands.Build());
        root.Subcommands.Add(CatalogCommands.Build());
        root.Subcommands.Add(EvalCommand.Build());
        root.Subcommands.Add(BenchCommands.Build());
        root.Subcommands.Add(DemoCommand.Build());
        root.Subcommands.Add(ServeCommand.Build());
        root.Subcommands.Add(UsersCommands.Build());
        root.Subcommands.Add(AuditCommands.Build());
        root.Subcommands.Add(EraseCommands.Build());
        root.Subcommands.Add(CasesCommands.Build());
        root.Subcommands.Add(ReviewCommands.Build());
        root.Subcommands.Add(RetentionCommands.Build());
        root.Subcommands.Add(OptOutCommands.Build());
        root.Subcommands.Add(ReportCommands.Build());
        root.Subcommands.Add(NetworkCommands.Build());
        root.Subcommands.Add(WorkerCommand.Build());
        root.Subcommands.Add(ClusterCommands.Build());
        root.Subcommands.Add(ReportCommands.BuildOversight());
        return root;
    }
}
