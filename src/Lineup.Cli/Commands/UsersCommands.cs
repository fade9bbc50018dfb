using System.CommandLine;
using Lineup.Core.Security;
using Lineup.Hosting;
using Lineup.Server.Security;
using Spectre.Console;

namespace Lineup.Cli.Commands;

/// <summary><c>lineup users</c>: the people who sign in to the server, their roles and API keys. Needs no models.</summary>
public static class UsersCommands
{
    public static Command Build()
    {
        var users = new Command("users", "Users of the server: add, list, disable, enable, set a password, create an API key");
        users.Subcommands.Add(Add());
        users.Subcommands.Add(List());
        users.Subcommands.Add(Toggle("disable", "Disable a user: their sessions and API keys stop working at once", disable: true));
        users.Subcommands.Add(Toggle("enable", "Enable a disabled user again", disable: false));
        users.Subcommands.Add(Password());
        users.Subcommands.Add(Key());
        users.Subcommands.Add(Clearance());
        return users;
    }

    private static Command Add()
    {
        var name = new Argument<string>("name") { Description = "Sign-in name (letters, digits, . _ - @; at most 64)" };
        var roles = new Option<string>("--roles")
        {
            Description = "Comma-separated roles: analyst, reviewer, supervisor, auditor, admin",
            Required = true,
        };
        var display = new Option<string?>("--display-name") { Description = "The person's name as shown in the UI" };
        var passwordStdin = new Option<bool>("--password-stdin") { Description = "Read the password from standard input (default: generate one and print it once)" };
        var command = new Command("add", "Add a user with roles and a password") { name, roles, display, passwordStdin };
        command.SetAction((parse, ct) => GlobalOptions.RunAsync(async () =>
        {
            var set = Roles.ParseList(parse.GetValue(roles)!);
            if (set.Count == 0)
            {
                throw new ArgumentException("--roles: give at least one role (analyst, reviewer, supervisor, auditor, admin).");
            }

            var generated = !parse.GetValue(passwordStdin);
            var password = generated ? UserDirectory.GeneratePassword() : await ReadPasswordAsync(ct);
            await using var catalog = await LineupEngine.OpenCatalogAsync(GlobalOptions.Resolve(parse), ct);
            var user = await new UserDirectory(Store(catalog)).AddAsync(parse.GetValue(name)!, parse.GetValue(display), set.ToList(), password, ct);
            AnsiConsole.MarkupLineInterpolated($"Added [bold]{user.Name}[/] ({Roles.Format(user.Roles)}).");
            if (generated)
            {
                AnsiConsole.MarkupLineInterpolated($"Password, shown this once: [bold]{password}[/]");
            }

            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command List()
    {
        var json = new Option<bool>("--json") { Description = "Print as JSON" };
        var command = new Command("list", "Every user with roles, state and API keys") { json };
        command.SetAction((parse, ct) => GlobalOptions.RunAsync(async () =>
        {
            await using var catalog = await LineupEngine.OpenCatalogAsync(GlobalOptions.Resolve(parse), ct);
            var store = Store(catalog);
            var users = await store.ListUsersAsync(ct);
            if (parse.GetValue(json))
            {
                var rows = new List<object>();
                foreach (var u in users)
                {
                    var keys = await store.ListApiKeysAsync(u.Id, ct);
                    rows.Add(new
                    {
                        u.Id, u.Name, u.DisplayName, Roles = u.Roles.Select(Roles.Name).ToList(), u.CreatedAt, Disabled = u.IsDisabled,
                        ApiKeys = keys.Select(k => new { k.Id, k.Name, k.Prefix, k.CreatedAt, k.LastUsedAt, Revoked = k.IsRevoked }).ToList(),
                    });
                }

                Console.WriteLine(System.Text.Json.JsonSerializer.Serialize(rows, SearchCommands.Json));
                return ExitCodes.Ok;
            }

            var table = new Table().AddColumns("name", "display name", "roles", "created", "state", "API keys");
            foreach (var u in users)
            {
                var keys = await store.ListApiKeysAsync(u.Id, ct);
                table.AddRow(
                    Markup.Escape(u.Name), Markup.Escape(u.DisplayName ?? ""), Roles.Format(u.Roles), u.CreatedAt.ToString("yyyy-MM-dd"),
                    u.IsDisabled ? "[red]disabled[/]" : "active",
                    Markup.Escape(string.Join(", ", keys.Where(k => !k.IsRevoked).Select(k => $"{k.Name} ({k.Prefix}…)"))));
            }

            AnsiConsole.Write(table);
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command Toggle(string verb, string description, bool disable)
    {
        var name = new Argument<string>("name");
        var command = new Command(verb, description) { name };
        command.SetAction((parse, ct) => GlobalOptions.RunAsync(async () =>
        {
            await using var catalog = await LineupEngine.OpenCatalogAsync(GlobalOptions.Resolve(parse), ct);
            var store = Store(catalog);
            var user = disable ? await store.DisableUserAsync(parse.GetValue(name)!, ct) : await store.EnableUserAsync(parse.GetValue(name)!, ct);
            AnsiConsole.MarkupLineInterpolated($"{user.Name} is {(user.IsDisabled ? "disabled" : "enabled")}.");
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command Password()
    {
        var name = new Argument<string>("name");
        var passwordStdin = new Option<bool>("--password-stdin") { Description = "Read the new password from standard input (default: generate one)" };
        var command = new Command("password", "Set a user's password (ends their sessions)") { name, passwordStdin };
        command.SetAction((parse, ct) => GlobalOptions.RunAsync(async () =>
        {
            var generated = !parse.GetValue(passwordStdin);
            var password = generated ? UserDirectory.GeneratePassword() : await ReadPasswordAsync(ct);
            await using var catalog = await LineupEngine.OpenCatalogAsync(GlobalOptions.Resolve(parse), ct);
            var user = await new UserDirectory(Store(catalog)).SetPasswordAsync(parse.GetValue(name)!, password, ct);
            AnsiConsole.MarkupLineInterpolated($"Password of {user.Name} changed.");
            if (generated)
            {
                AnsiConsole.MarkupLineInterpolated($"New password, shown this once: [bold]{password}[/]");
            }

            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command Clearance()
    {
        var name = new Argument<string>("name");
        var nda = new Option<string?>("--nda-until") { Description = "When the confidentiality agreement expires (yyyy-mm-dd or ISO 8601; 'none' clears it)" };
        var training = new Option<string?>("--training-until") { Description = "When the face-search training expires (yyyy-mm-dd or ISO 8601; 'none' clears it)" };
        var command = new Command("clearance", "Record when a user's NDA and training expire: searching and confirming need both current") { name, nda, training };
        command.SetAction((parse, ct) => GlobalOptions.RunAsync(async () =>
        {
            await using var catalog = await LineupEngine.OpenCatalogAsync(GlobalOptions.Resolve(parse), ct);
            var user = await Store(catalog).FindUserAsync(parse.GetValue(name)!, ct)
                ?? throw new Core.Catalog.CatalogException($"There is no user named '{parse.GetValue(name)}'.");
            var cases = catalog as Core.Oversight.ICaseStore ?? throw new InvalidOperationException("This catalog keeps no cases.");
            var updated = await cases.SetClearanceAsync(
                user.Name, Date(parse.GetValue(nda), user.NdaUntil, "--nda-until"), Date(parse.GetValue(training), user.TrainingUntil, "--training-until"),
                EraseCommands.Actor, ct);
            AnsiConsole.MarkupLineInterpolated(
                $"{updated.Name}: NDA until {updated.NdaUntil?.ToString("yyyy-MM-dd") ?? "none"}, training until {updated.TrainingUntil?.ToString("yyyy-MM-dd") ?? "none"}.");
            return ExitCodes.Ok;
        }));
        return command;

        static DateTimeOffset? Date(string? text, DateTimeOffset? current, string option) => text switch
        {
            null => current,
            "none" => null,
            _ => CasesCommands.ParseExpiry(text, option),
        };
    }

    private static Command Key()
    {
        var name = new Argument<string>("name") { Description = "The user the key acts as" };
        var keyName = new Option<string>("--key-name") { Description = "What the key is for (e.g. the integration's name)", Required = true };
        var command = new Command("key", "Create an API key for a user (printed once; only its hash is stored)") { name, keyName };
        command.SetAction((parse, ct) => GlobalOptions.RunAsync(async () =>
        {
            await using var catalog = await LineupEngine.OpenCatalogAsync(GlobalOptions.Resolve(parse), ct);
            var (key, secret) = await new UserDirectory(Store(catalog)).CreateApiKeyAsync(parse.GetValue(name)!, parse.GetValue(keyName)!, ct);
            AnsiConsole.MarkupLineInterpolated($"API key {key.Name} ({key.Prefix}…) for {parse.GetValue(name)}, shown this once:");
            Console.WriteLine(secret);
            return ExitCodes.Ok;
        }));
        return command;
    }

    /// <summary>The catalog's users, changes audited as made by the operating-system user of the CLI.</summary>
    private static IUserStore Store(Core.Catalog.ICatalog catalog) => RawStore(catalog).ActingAs(EraseCommands.Actor);

    private static IUserStore RawStore(Core.Catalog.ICatalog catalog) =>
        catalog as IUserStore ?? throw new InvalidOperationException("This catalog keeps no users.");

    private static async Task<string> ReadPasswordAsync(CancellationToken ct)
    {
        var line = await Console.In.ReadLineAsync(ct);
        return string.IsNullOrEmpty(line) ? throw new ArgumentException("No password on standard input.") : line;
    }
}
