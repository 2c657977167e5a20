using Microsoft.AspNetCore.Authentication;

namespace WorkCluster.Api.Security;

public static class ApiSecurityExtensions
{
    /// <summary>API keys (<c>Auth</c>), the caller's scopes, and the refusals as problems.</summary>
    public static IHostApplicationBuilder AddApiKeys(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<AuthOptions>().BindConfiguration("Auth").ValidateOnStart();
        builder.Services.AddSingleton<Microsoft.Extensions.Options.IValidateOptions<AuthOptions>, AuthOptionsValidator>();
        builder.Services.AddSingleton<ApiKeyStore>();
        builder.Services.AddSingleton(sp => new AnonymousAccess(
            sp.GetRequiredService<Microsoft.Extensions.Options.IOptions<AuthOptions>>().Value.AllowAnonymousSubmit
                ?? builder.Environment.IsDevelopment()));
        builder.Services.AddAuthentication(ApiKeyAuthentication.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthentication>(ApiKeyAuthentication.SchemeName, null);
        builder.Services.AddAuthorization();
        return builder;
    }

    /// <summary>The endpoints of <paramref name="builder"/> need a key with one of <paramref name="anyOf"/>.</summary>
    public static TBuilder RequireScope<TBuilder>(this TBuilder builder, params string[] anyOf) where TBuilder : IEndpointConventionBuilder
    {
        builder.RequireAuthorization(policy => policy
            .AddAuthenticationSchemes(ApiKeyAuthentication.SchemeName)
            .RequireClaim(ApiScopes.ClaimType, anyOf));
        builder.WithMetadata(new ScopeMetadata(anyOf));
        builder.Add(endpoint =>
        {
            endpoint.Metadata.Add(new Microsoft.AspNetCore.Mvc.ProducesResponseTypeAttribute(
                typeof(Microsoft.AspNetCore.Mvc.ProblemDetails), StatusCodes.Status401Unauthorized, "application/problem+json"));
            endpoint.Metadata.Add(new Microsoft.AspNetCore.Mvc.ProducesResponseTypeAttribute(
                typeof(Microsoft.AspNetCore.Mvc.ProblemDetails), StatusCodes.Status403Forbidden, "application/problem+json"));
        });
        return builder;
    }
}
