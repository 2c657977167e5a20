# The image of a WorkCluster service, built from the repository root. docker-compose.yml builds it once per service:
#   docker build --build-arg PROJECT=WorkCluster.Api -t workcluster/api .
#   docker build --build-arg PROJECT=WorkCluster.Worker -t workcluster/worker .
ARG PROJECT=WorkCluster.Api

FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
ARG PROJECT
WORKDIR /src
# Project files first, so that the restore layer is reused until a dependency changes.
COPY Directory.Build.props Directory.Packages.props ./
COPY build/ build/
COPY WorkCluster.ServiceDefaults/WorkCluster.ServiceDefaults.csproj WorkCluster.ServiceDefaults/
COPY WorkCluster.Redis/WorkCluster.Redis.csproj WorkCluster.Redis/
COPY WorkCluster.Queue/WorkCluster.Queue.csproj WorkCluster.Queue/
COPY WorkCluster.Cluster/WorkCluster.Cluster.csproj WorkCluster.Cluster/
COPY WorkCluster.Handlers/WorkCluster.Handlers.csproj WorkCluster.Handlers/
COPY WorkCluster.Webhooks/WorkCluster.Webhooks.csproj WorkCluster.Webhooks/
COPY ${PROJECT}/${PROJECT}.csproj ${PROJECT}/
RUN dotnet restore ${PROJECT}/${PROJECT}.csproj
COPY . .
RUN dotnet publish ${PROJECT}/${PROJECT}.csproj -c Release -o /app --no-restore

FROM mcr.microsoft.com/dotnet/aspnet:10.0
ARG PROJECT
WORKDIR /app
COPY --from=build /app .
ENV APP_DLL=${PROJECT}.dll \
    HTTP_PORTS=8080
EXPOSE 8080
USER $APP_UID
# The service checks its own /health (no curl in the image).
HEALTHCHECK --interval=5s --timeout=4s --start-period=20s --retries=3 CMD ["sh", "-c", "exec dotnet \"$APP_DLL\" --health-probe"]
ENTRYPOINT ["sh", "-c", "exec dotnet \"$APP_DLL\" \"$@\"", "--"]
