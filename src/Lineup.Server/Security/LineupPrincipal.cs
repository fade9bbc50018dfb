using System.Globalization;
using System.Security.Claims;
using Lineup.Core.Security;

namespace Lineup.Server.Security;

/// <summary>The claims of a signed-in user: id, name, security stamp, roles and the permissions they grant.</summary>
public static class LineupPrincipal
{
    public const string StampClaim = "lineup:stamp";
    public const string MethodClaim = "lineup:method";

    public static ClaimsPrincipal Create(UserAccount user, string scheme, string method)
    {
        var claims = new List<Claim>
        {
            new(ClaimTypes.NameIdentifier, user.Id.ToString(CultureInfo.InvariantCulture)),
            new(ClaimTypes.Name, user.Name),
            new(StampClaim, user.SecurityStamp),
            new(MethodClaim, method),
        };
        claims.AddRange(user.Roles.Select(r => new Claim(ClaimTypes.Role, Roles.Name(r))));
        claims.AddRange(Permissions.Of(user.Roles).Select(p => new Claim(Permissions.ClaimType, p)));
        return new ClaimsPrincipal(new ClaimsIdentity(claims, scheme, ClaimTypes.Name, ClaimTypes.Role));
    }

    public static long? UserId(ClaimsPrincipal principal) =>
        long.TryParse(principal.FindFirstValue(ClaimTypes.NameIdentifier), NumberStyles.None, CultureInfo.InvariantCulture, out var id) ? id : null;

    public static string Name(ClaimsPrincipal principal) => principal.Identity?.Name ?? "anonymous";

    public static bool Has(ClaimsPrincipal principal, string permission) => principal.HasClaim(Permissions.ClaimType, permission);
}
