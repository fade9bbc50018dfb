using System.CommandLine;
using System.ComponentModel.DataAnnotations;
using Lineup.Core.Catalog;
using Lineup.Core.Imaging;
using Lineup.Core.Network;
using Lineup.Core.Oversight;
using Lineup.Hosting;
using Lineup.Index;
using Lineup.Ingest.Sources;
using Lineup.Vision.Models;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Spectre.Console;

namespace Lineup.Cli;

/// <summary>Options every command takes, and the one place that turns them into <see cref="LineupOptions"/>.</summary>
public static class GlobalOptions
{
    public static readonly Option<string?> Data = new("--data")
    {
        Description = "Data directory (catalog, index, models). Default: $LINEUP_DATA or ./lineup-data",
        Recursive = true,
    };

    public static readonly Option<string?> Models = new("--models")
    {
        Description = "Model cache directory. Default: $LINEUP_MODELS or <data>/models",
        Recursive = true,
    };

    public static readonly Option<bool> Quiet = new("--quiet", "-q")
    {
        Description = "Only print results and errors",
        Recursive = true,
    };

    public static readonly Option<string?> Backend = new("--backend")
    {
        Description = "embedded (SQLite + USearch in the data directory) or distributed (PostgreSQL + Garnet). Default: Lineup:Backend or embedded",
        Recursive = true,
    };

    public static readonly Option<string?> Postgres = new("--postgres")
    {
        Description = "PostgreSQL connection string of the distributed catalog. Default: Lineup:Distributed:Postgres",
        Recursive = true,
    };

    public static readonly Option<string?> Garnet = new("--garnet")
    {
        Description = "Garnet cluster nodes (host:port,...) of the distributed index. Default: Lineup:Distributed:Garnet",
        Recursive = true,
    };

    public static IEnumerable<Option> All => [Data, Models, Quiet, Backend, Postgres, Garnet];

    /// <summary>appsettings.json (beside the data directory's parent or the binary), then LINEUP__ env, then flags.</summary>
    public static LineupOptions Resolve(ParseResult parse)
    {
        var configuration = new ConfigurationBuilder()
            .AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json"), optional: true)
            .AddJsonFile(Path.Combine(Environment.CurrentDirectory, "appsettings.json"), optional: true)
            .AddEnvironmentVariables("LINEUP__")
            .Build();
        var services = new ServiceCollection().AddLineup(configuration, options =>
        {
            if (Environment.GetEnvironmentVariable("LINEUP_DATA") is { Length: > 0 } envData)
            {
                options.DataDirectory = envData;
            }

            if (Environment.GetEnvironmentVariable("LINEUP_MODELS") is { Length: > 0 } envModels)
            {
                options.ModelsDirectory = envModels;
            }

            if (parse.GetValue(Data) is { Length: > 0 } data)
            {
                options.DataDirectory = data;
            }

            if (parse.GetValue(Models) is { Length: > 0 } models)
            {
                options.ModelsDirectory = models;
            }

            if (parse.GetValue(Backend) is { Length: > 0 } backend)
            {
                options.Backend = backend;
            }

            if (parse.GetValue(Postgres) is { Length: > 0 } postgres)
            {
                options.Distributed.Postgres = postgres;
            }

            if (parse.GetValue(Garnet) is { Length: > 0 } garnet)
            {
                options.Distributed.Garnet = garnet;
            }
        });
        using var provider = services.BuildServiceProvider();
        try
        {
            return provider.GetRequiredService<IOptions<LineupOptions>>().Value;
        }
        catch (OptionsValidationException e)
        {
            throw new ValidationException(e.Message, e);
        }
    }

    public static IProgress<string> Progress(ParseResult parse) =>
        parse.GetValue(Quiet)
            ? new Progress<string>(_ => { })
            : new SyncProgress(line => AnsiConsole.MarkupLineInterpolated($"[grey]{line}[/]"));

    /// <summary>Maps the exceptions a command can meet to one clear line and an exit code.</summary>
    public static async Task<int> RunAsync(Func<Task<int>> body)
    {
        try
        {
            return await body();
        }
        catch (ModelStoreException e)
        {
            return Fail(ExitCodes.Models, e.Message);
        }
        catch (ImageRejectedException e)
        {
            return Fail(ExitCodes.BadInput, e.Message);
        }
        catch (NoFaceException e)
        {
            return Fail(ExitCodes.NotFound, e.Message);
        }
        catch (IngestBusyException e)
        {
            return Fail(ExitCodes.Busy, e.Message);
        }
        catch (SearchRefusedException e)
        {
            return Fail(ExitCodes.Refused, $"search refused ({e.Code}): {e.Message} (recorded as search {e.SearchId})");
        }
        catch (ReviewRefusedException e)
        {
            return Fail(ExitCodes.Refused, $"refused ({e.Code}): {e.Message}");
        }
        catch (NetworkRefusedException e)
        {
            return Fail(ExitCodes.Refused, $"network query refused ({e.Code}): {e.Message} (recorded in the audit log)");
        }
        catch (NetworkNotFoundException e)
        {
            return Fail(ExitCodes.NotFound, e.Message);
        }
        catch (Exception e) when (e is IngestSourceException or CatalogException)
        {
            return Fail(ExitCodes.BadInput, e.Message);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or ValidationException or ArgumentException or FormatException)
        {
            return Fail(ExitCodes.BadInput, e.Message);
        }
        catch (VectorIndexException e)
        {
            // A cluster that does not answer or refuses a write is not the operator's input, but it is one line too.
            return Fail(ExitCodes.Error, $"vector index: {e.Message}");
        }
        catch (OperationCanceledException)
        {
            return Fail(ExitCodes.Error, "cancelled");
        }
    }

    public static int Fail(int code, string message)
    {
        Console.Error.WriteLine($"lineup: {message}");
        return code;
    }

    /// <summary>Reports on the calling thread (Progress&lt;T&gt; would post to the thread pool and reorder lines).</summary>
    private sealed class SyncProgress(Action<string> report) : IProgress<string>
    {
        public void Report(string value) => report(value);
    }
}
