using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Engine.Cli.Admin;

namespace Engine.Cli;

/// <summary>What went wrong, and the exit code it means for scripts.</summary>
public sealed class CliException(int exitCode, string message) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}

/// <summary>enginectl's exit codes: scripts can trust them.</summary>
public static class ExitCodes
{
    public const int Ok = 0;
    /// <summary>The engine refused or failed the request.</summary>
    public const int Failed = 1;
    /// <summary>The command line is wrong.</summary>
    public const int Usage = 2;
    /// <summary>The engine cannot be reached or did not answer in time, or no token was found.</summary>
    public const int Unavailable = 3;
    /// <summary>The message (or member) named does not exist.</summary>
    public const int NotFound = 4;
}

/// <summary>The admin API over HTTP with the bearer token; errors become <see cref="CliException"/>s.</summary>
public sealed class AdminClient(HttpClient http)
{
    /// <param name="token">The bearer token, or null when the client certificate authenticates.</param>
    /// <param name="certificate">A client certificate (with its key) to offer, or null.</param>
    /// <param name="authority">The CA the server's certificate must chain to, or null for the system's trust.</param>
    public static AdminClient Create(string url, string? token, X509Certificate2? certificate = null, X509Certificate2Collection? authority = null)
    {
        var handler = new SocketsHttpHandler();
        if (certificate is not null)
            handler.SslOptions.ClientCertificates = [certificate];
        if (authority is not null)
            handler.SslOptions.RemoteCertificateValidationCallback = (_, server, chain, errors) => Certificates.ChainsTo(server, chain, errors, authority);
        var http = new HttpClient(handler) { BaseAddress = new Uri(url.TrimEnd('/') + "/"), Timeout = TimeSpan.FromMinutes(5) };
        if (token is not null)
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return new AdminClient(http);
    }

    public Task<T> GetAsync<T>(string path, JsonTypeInfo<T> type, CancellationToken cancel) =>
        SendAsync(() => http.GetAsync(path.TrimStart('/'), cancel), type, cancel);

    public Task<T> PostAsync<TBody, T>(string path, TBody body, JsonTypeInfo<TBody> bodyType, JsonTypeInfo<T> type, CancellationToken cancel) =>
        SendAsync(() => http.PostAsJsonAsync(path.TrimStart('/'), body, bodyType, cancel), type, cancel);

    /// <summary>A POST with an empty JSON object (an action on the whole cluster, such as a reload).</summary>
    public Task<T> PostAsync<T>(string path, JsonTypeInfo<T> type, CancellationToken cancel) =>
        SendAsync(() => http.PostAsync(path.TrimStart('/'), new StringContent("{}", System.Text.Encoding.UTF8, "application/json"), cancel), type, cancel);

    public Task DeleteAsync(string path, CancellationToken cancel) =>
        SendAsync(() => http.DeleteAsync(path.TrimStart('/'), cancel), AdminJson.Default.Changed, cancel);

    private static async Task<T> SendAsync<T>(Func<Task<HttpResponseMessage>> send, JsonTypeInfo<T> type, CancellationToken cancel)
    {
        HttpResponseMessage response;
        try
        {
            response = await send().ConfigureAwait(false);
        }
        catch (HttpRequestException e)
        {
            throw new CliException(ExitCodes.Unavailable, $"cannot reach the engine's admin API: {e.Message}"
                + (e.InnerException is { } inner ? $" ({inner.Message})" : ""));
        }
        catch (TaskCanceledException) when (!cancel.IsCancellationRequested)
        {
            throw new CliException(ExitCodes.Unavailable, "the engine's admin API did not answer in time");
        }
        using (response)
        {
            if (response.IsSuccessStatusCode)
            {
                try
                {
                    return await response.Content.ReadFromJsonAsync(type, cancel).ConfigureAwait(false)
                           ?? throw new CliException(ExitCodes.Failed, "the engine sent an empty answer");
                }
                catch (JsonException e)
                {
                    throw new CliException(ExitCodes.Failed, $"the answer is not the admin API's JSON (is --url right?): {e.Message}");
                }
            }
            var problem = await ProblemOf(response, cancel).ConfigureAwait(false);
            throw response.StatusCode switch
            {
                HttpStatusCode.NotFound => new CliException(ExitCodes.NotFound, problem),
                HttpStatusCode.Unauthorized => new CliException(ExitCodes.Unavailable, problem),
                HttpStatusCode.BadRequest => new CliException(ExitCodes.Usage, problem),
                HttpStatusCode.ServiceUnavailable => new CliException(ExitCodes.Unavailable, problem),
                _ => new CliException(ExitCodes.Failed, problem),
            };
        }
    }

    private static async Task<string> ProblemOf(HttpResponseMessage response, CancellationToken cancel)
    {
        var text = await response.Content.ReadAsStringAsync(cancel).ConfigureAwait(false);
        try
        {
            if (JsonSerializer.Deserialize(text, AdminJson.Default.Problem) is { Error.Length: > 0 } problem)
                return problem.Error;
        }
        catch (JsonException)
        {
        }
        return $"{(int)response.StatusCode} {response.ReasonPhrase}";
    }
}
