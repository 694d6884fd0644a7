using Akka.Configuration;
using Akka.Configuration.Hocon;

namespace Engine.Web.Admin;

/// <summary>
/// The effective configuration as `postconf` shows Postfix's: every <c>engine.*</c> setting as "key = value", or
/// only those that differ from the built-in defaults (<c>postconf -n</c>). Values of settings whose name says
/// they hold a secret (password, secret, token, key) are not shown.
/// </summary>
public sealed class ConfigAdmin(Func<Config> current, Config defaults)
{
    public IReadOnlyList<Setting> Show(bool changedOnly)
    {
        var effective = Flatten(current());
        if (!changedOnly)
            return effective;
        var standard = Flatten(defaults).ToDictionary(s => s.Key, s => s.Value, StringComparer.Ordinal);
        return effective.Where(s => !standard.TryGetValue(s.Key, out var value) || value != s.Value).ToArray();
    }

    /// <summary>The leaves under <c>engine</c>, sorted by key, lists and objects as HOCON writes them.</summary>
    public static IReadOnlyList<Setting> Flatten(Config config)
    {
        var settings = new List<Setting>();
        if (config.GetValue("engine") is { } engine && engine.IsObject())
            Walk("engine", engine, settings);
        return settings.OrderBy(s => s.Key, StringComparer.Ordinal).ToArray();
    }

    private static void Walk(string path, HoconValue value, List<Setting> into)
    {
        if (value.IsObject() && !path.EndsWith(".transport", StringComparison.Ordinal))
        {
            foreach (var (key, child) in value.GetObject().Items)
                Walk($"{path}.{Quote(key)}", child, into);
            return;
        }
        into.Add(new Setting(path, IsSecret(path) ? "<hidden>" : Render(value)));
    }

    private static string Render(HoconValue value) =>
        value.Values is [HoconArray list] ? "[" + string.Join(", ", list.GetArray().Select(Render)) + "]" // IsArray() is false for []
        : value.IsArray() ? "[" + string.Join(", ", value.GetArray().Select(Render)) + "]"
        : value.IsObject() && value.GetObject().Items.Count == 0 ? "{}"
        : value.IsObject() ? "{ " + string.Join(", ", value.GetObject().Items.Select(i => $"{Quote(i.Key)} = {Render(i.Value)}")) + " }"
        : value.IsString() ? Literal(value.GetString())
        : value.ToString();

    /// <summary>A string as HOCON reads it back: bare when it is a simple word or number, else quoted.</summary>
    private static string Literal(string text) =>
        text.Length > 0 && text.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or '/')
            ? text
            : "\"" + text.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";

    private static string Quote(string key) => key.Contains('.') || key.Contains(':') ? $"\"{key}\"" : key;

    private static bool IsSecret(string key)
    {
        var last = key[(key.LastIndexOf('.') + 1)..];
        return last.Contains("password", StringComparison.OrdinalIgnoreCase) || last.Contains("secret", StringComparison.OrdinalIgnoreCase)
            || (last.Contains("token", StringComparison.OrdinalIgnoreCase) && !last.EndsWith("-file", StringComparison.Ordinal))
            || (last.EndsWith("key", StringComparison.OrdinalIgnoreCase) && !last.EndsWith("-file", StringComparison.Ordinal));
    }
}
