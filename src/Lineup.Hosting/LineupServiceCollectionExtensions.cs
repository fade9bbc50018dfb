using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Lineup.Hosting;

/// <summary>The one composition root shared by the command line and the server (DESIGN.md).</summary>
public static class LineupServiceCollectionExtensions
{
    /// <summary>
    /// Binds <see cref="LineupOptions"/> from the <c>Lineup</c> section, validates them when first
    /// resolved, and registers the <see cref="LineupEngine"/> as a singleton opened on first use.
    /// </summary>
    public static IServiceCollection AddLineup(this IServiceCollection services, IConfiguration configuration, Action<LineupOptions>? configure = null)
    {
        services.AddOptions<LineupOptions>()
            .Bind(configuration.GetSection(LineupOptions.Section))
            .Configure(o => configure?.Invoke(o))
            .Validate(o =>
            {
                o.Validate();
                return true;
            });
        services.AddSingleton(sp => LineupEngine.OpenAsync(sp.GetRequiredService<IOptions<LineupOptions>>().Value).GetAwaiter().GetResult());
        return services;
    }
}
