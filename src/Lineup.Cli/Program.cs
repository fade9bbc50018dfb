using System.CommandLine;
using Lineup.Cli.Commands;

namespace Lineup.Cli;

public static class Program
{
    public static Task<int> Main(string[] args) => BuildRoot().Parse(args).InvokeAsync();

    public static RootCommand BuildRoot()
    {
        var root = new RootCommand("Lineup: accountable face search over operator-supplied photo collections.");
        foreach (var option in GlobalOptions.All)
        {
            root.Options.Add(option);
        }

        root.Subcommands.Add(ModelsCommands.Build());
        root.Subcommands.Add(IngestCommand.Build());
        root.Subcommands.Add(SearchCommands.BuildSearch());
        root.Subcommands.Add(SearchCommands.BuildVerify());
        root.Subcommands.Add(StatsCommand.Build());
        root.Subcommands.Add(IndexCommands.Build());
        root.Subcommands.Add(EvalCommand.Build());
        root.Subcommands.Add(BenchCommands.Build());
        root.Subcommands.Add(DemoCommand.Build());
        return root;
    }
}
