namespace Lineup.Server;

/// <summary>
/// <c>Lineup.Server</c> run on its own (<c>dotnet run --project src/Lineup.Server</c>); <c>lineup serve</c> builds the
/// same application. Tests start it through <c>WebApplicationFactory&lt;Program&gt;</c>.
/// </summary>
public sealed class Program
{
    private Program()
    {
    }

    public static async Task Main(string[] args)
    {
        await using var app = LineupServer.Build(args);
        await app.StartAsync().ConfigureAwait(false);
        // The build's document generator starts the app with a no-op server to read its endpoints: no users, models or
        // catalog then.
        if (!LineupServer.GeneratingApiDocument && await LineupServer.EnsureFirstUserAsync(app).ConfigureAwait(false) is { } password)
        {
            // stdout, not the log: the one place the operator sees it, and it never reaches a log store.
            await Console.Out.WriteLineAsync($"No users existed: created 'admin' (roles admin, analyst) with the password {password} (shown once).").ConfigureAwait(false);
        }

        await app.WaitForShutdownAsync().ConfigureAwait(false);
    }
}
