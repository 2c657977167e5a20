using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;
using WorkCluster.Cluster.Mesh;
using WorkCluster.Redis;

namespace WorkCluster.Cluster;

public static class ClusterHostingExtensions
{
    /// <summary>
    /// Reading the cluster's membership, in the registry's store: the work store, or the Redis whose connection string
    /// <c>Cluster:Store</c> names (see <see cref="ClusterStore"/>).
    /// </summary>
    public static IHostApplicationBuilder AddClusterRegistry(this IHostApplicationBuilder builder)
    {
        builder.AddWorkClusterRedis();
        if (builder.Services.Any(d => d.ServiceType == typeof(ClusterRegistry)))
        {
            return builder;
        }
        builder.Services.AddOptions<ClusterOptions>()
            .BindConfiguration(ClusterOptions.SectionName)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.AddSingleton<ClusterScripts>();
        builder.Services.AddSingleton<ClusterKeys>();

        var store = builder.Configuration[$"{ClusterOptions.SectionName}:{nameof(ClusterOptions.Store)}"];
        if (string.IsNullOrEmpty(store) || store == RedisHostingExtensions.ConnectionName)
        {
            builder.Services.AddSingleton(sp => new ClusterStore(sp.GetRequiredService<IConnectionMultiplexer>(), RedisHostingExtensions.ConnectionName));
            builder.Services.AddSingleton<IRedisScriptSet>(sp => sp.GetRequiredService<ClusterScripts>());
        }
        else
        {
            builder.AddWorkClusterRedisStore(store);
            builder.Services.AddSingleton(sp => new ClusterStore(sp.GetRequiredKeyedService<IConnectionMultiplexer>(store), store));
            builder.Services.AddHostedService(sp => new RedisScriptLoader(sp.GetRequiredService<ClusterStore>().Connection,
                [sp.GetRequiredService<ClusterScripts>()], sp.GetRequiredService<ILogger<RedisScriptLoader>>()));
            builder.Services.AddHealthChecks().AddCheck<ClusterStoreHealthCheck>($"cluster-store-{store}");
        }
        builder.Services.AddSingleton(sp => new ClusterRegistry(sp.GetRequiredService<ClusterStore>().Connection,
            sp.GetRequiredService<ClusterScripts>(), sp.GetRequiredService<ClusterKeys>(), sp.GetRequiredService<IOptions<ClusterOptions>>()));
        return builder;
    }

    /// <summary>
    /// Makes this process a node of the cluster: it registers with heartbeats as <paramref name="identity"/> and
    /// leaves on stop.
    /// </summary>
    public static IHostApplicationBuilder AddClusterNode(this IHostApplicationBuilder builder, NodeIdentity identity)
    {
        builder.AddClusterRegistry();
        builder.Services.AddSingleton(identity);
        builder.Services.AddSingleton<NodeDescriber>();
        builder.Services.AddSingleton<NodeHeartbeat>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<NodeHeartbeat>());
        return builder;
    }

    /// <summary>
    /// Puts this node (see <see cref="AddClusterNode"/>) on the mesh: it hosts the mesh hub on an endpoint of its own
    /// (listen on <see cref="MeshEndpoint.ListenUrl"/>, map with <see cref="MeshEndpointExtensions.MapMeshHub"/>),
    /// advertises it with its heartbeat, connects to every other member, and answers the built-in messages
    /// (ping, info, ping-peers, note, broadcast-note).
    /// </summary>
    public static MeshEndpoint AddMeshNode(this IHostApplicationBuilder builder)
    {
        AddMesh(builder);
        var endpoint = MeshEndpoint.Resolve(builder.Configuration);
        builder.Services.AddSingleton(endpoint);
        builder.Services.AddSingleton<INodeStatus, MeshStatus>();
        builder.Services.AddSignalR(options =>
        {
            options.MaximumReceiveMessageSize = 8 * 1024 * 1024;
            // Requests from one peer are handled side by side: a long one (run) must not hold up its pings.
            options.MaximumParallelInvocationsPerClient = 64;
            options.KeepAliveInterval = TimeSpan.FromSeconds(5);
            options.ClientTimeoutInterval = TimeSpan.FromSeconds(15);
        });
        builder.Services.AddAuthentication()
            .AddScheme<AuthenticationSchemeOptions, ClusterSecretAuthentication>(ClusterSecretAuthentication.SchemeName, null);
        builder.Services.AddAuthorization(options => options.AddPolicy(MeshEndpoint.AuthorizationPolicy, policy => policy
            .AddAuthenticationSchemes(ClusterSecretAuthentication.SchemeName)
            .RequireAuthenticatedUser()));

        builder.Services
            .AddMeshRequestHandler<Ping, Pong, PingHandler>()
            .AddMeshRequestHandler<InfoRequest, NodeStats, InfoHandler>()
            .AddMeshRequestHandler<PingPeers, PingPeersReply, PingPeersHandler>()
            .AddMeshRequestHandler<BroadcastNote, BroadcastNoteReply, BroadcastNoteHandler>()
            .AddMeshMessageHandler<Note, NoteHandler>();
        builder.Services.AddSingleton<NotesInbox>();
        return endpoint;
    }

    /// <summary>
    /// A client of the mesh that is not a node (the API): it connects to every member as <paramref name="identity"/>
    /// and sends them messages, but hosts no hub and takes no part in membership.
    /// </summary>
    public static IHostApplicationBuilder AddMeshClient(this IHostApplicationBuilder builder, NodeIdentity identity)
    {
        builder.Services.TryAddSingleton(identity);
        AddMesh(builder);
        return builder;
    }

    /// <summary>Registers <typeparamref name="THandler"/> as the answer to requests of type <typeparamref name="TRequest"/>.</summary>
    public static IServiceCollection AddMeshRequestHandler<TRequest, TResponse, THandler>(this IServiceCollection services)
        where THandler : class, IMeshRequestHandler<TRequest, TResponse>
    {
        services.TryAddSingleton<THandler>();
        services.AddSingleton(MeshDispatcher.RequestRoute<TRequest, TResponse, THandler>());
        return services;
    }

    /// <summary>Registers <typeparamref name="THandler"/> as the receiver of one-way messages of type <typeparamref name="TMessage"/>.</summary>
    public static IServiceCollection AddMeshMessageHandler<TMessage, THandler>(this IServiceCollection services)
        where THandler : class, IMeshMessageHandler<TMessage>
    {
        services.TryAddSingleton<THandler>();
        services.AddSingleton(MeshDispatcher.MessageRoute<TMessage, THandler>());
        return services;
    }

    private static void AddMesh(IHostApplicationBuilder builder)
    {
        builder.AddClusterRegistry();
        if (builder.Services.Any(d => d.ServiceType == typeof(IMesh)))
        {
            return;
        }
        builder.Services.AddOptions<ClusterOptions>()
            .Validate(o => !string.IsNullOrEmpty(o.Secret), "Cluster:Secret is required to join the mesh (the AppHost's cluster-secret parameter).");
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<MeshCredentials>();
        builder.Services.AddSingleton<MeshTelemetry>();
        builder.Services.AddSingleton<MeshDispatcher>();
        builder.Services.AddSingleton<MeshPeers>();
        builder.Services.AddSingleton<IMesh, Mesh.Mesh>();
        builder.Services.AddHostedService<MeshMembership>();
    }
}
