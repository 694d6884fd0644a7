namespace Engine.Storage.Accounts;

/// <summary>
/// A list of relay recipients in the shape of Postfix's relay_recipients source file, so an existing one
/// imports as it is: one key per line ("user@domain" or "@domain"), anything after the first blank ignored
/// (Postfix's "OK" column), blank lines and lines starting with '#' skipped.
/// </summary>
public static class RelayRecipientsFile
{
    public static IReadOnlyList<string> Read(TextReader reader)
    {
        var addresses = new List<string>();
        var number = 0;
        while (reader.ReadLine() is { } line)
        {
            number++;
            var text = line.Trim();
            if (text.Length == 0 || text[0] == '#')
                continue;
            var key = text.Split([' ', '\t'], 2)[0];
            if (key.LastIndexOf('@') < 0 || key.EndsWith('@'))
                throw new DirectoryException($"line {number}: not an address or @domain: '{key}'");
            addresses.Add(key);
        }
        return addresses;
    }
}
