using System.IO.Compression;
using System.Reflection;
using System.Reflection.Metadata;
using System.Reflection.Metadata.Ecma335;
using System.Reflection.PortableExecutable;
using System.Text.Json;
using System.Xml.Linq;

namespace PackageSmoke;

/// <summary>
/// Checks the packed .nupkg/.snupkg files with the BCL only (no dotnet tool): metadata, README, XML docs, that this
/// program runs against exactly the packed build, and that the symbols match the DLLs and carry Source Link.
/// </summary>
internal static class PackageChecks
{
    private static readonly Guid s_sourceLinkKind = new("CC110556-A091-4D38-9FEC-25AB9A351A6A");
    private static readonly Guid s_embeddedSourceKind = new("0E8A571B-6926-466E-B4AD-8AB04611F5FE");

    public static void Run(string folder, string? commit, Action<bool, string> check)
    {
        foreach (var (id, type) in new[] { ("SpanBuffer", typeof(SpanBuffer.SpansBuffer)), ("SpanBuffer.Models", typeof(SpanBuffer.Models.Span)) })
        {
            var version = type.Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "";
            var plus = version.IndexOf('+', StringComparison.Ordinal);
            var packageVersion = plus < 0 ? version : version[..plus];
            var nupkg = Path.Combine(folder, $"{id}.{packageVersion}.nupkg");
            var snupkg = Path.ChangeExtension(nupkg, ".snupkg");
            check(File.Exists(nupkg) && File.Exists(snupkg), $"{id}: the loaded assembly ({version}) is the packed {Path.GetFileName(nupkg)} (+ .snupkg)");
            if (!File.Exists(nupkg) || !File.Exists(snupkg))
            {
                continue;
            }

            if (commit is not null)
            {
                check(version.EndsWith("+" + commit, StringComparison.Ordinal), $"{id}: informational version names commit {commit}");
            }

            CheckPackage(id, packageVersion, nupkg, snupkg, commit, check);
        }
    }

    private static void CheckPackage(string id, string version, string nupkg, string snupkg, string? commit, Action<bool, string> check)
    {
        using var package = ZipFile.OpenRead(nupkg);
        using var symbols = ZipFile.OpenRead(snupkg);
        Console.WriteLine($"  {Path.GetFileName(nupkg)}: {string.Join(", ", package.Entries.Select(e => e.FullName).Order(StringComparer.Ordinal))}");
        Console.WriteLine($"  {Path.GetFileName(snupkg)}: {string.Join(", ", symbols.Entries.Select(e => e.FullName).Order(StringComparer.Ordinal))}");

        var nuspec = XDocument.Load(package.GetEntry($"{id}.nuspec")!.Open());
        var ns = nuspec.Root!.Name.Namespace;
        var metadata = nuspec.Root.Element(ns + "metadata")!;
        string? Meta(string name) => metadata.Element(ns + name)?.Value;
        var license = metadata.Element(ns + "license");
        var repository = metadata.Element(ns + "repository");

        check(Meta("id") == id && Meta("version") == version, $"{id}: nuspec id and version {version}");
        check(license?.Attribute("type")?.Value == "expression" && license.Value == "MIT", $"{id}: license expression MIT");
        check(Meta("readme") == "README.md" && package.GetEntry("README.md") is { Length: > 0 }, $"{id}: README.md packed and declared");
        check(!string.IsNullOrWhiteSpace(Meta("description")) && !string.IsNullOrWhiteSpace(Meta("projectUrl")), $"{id}: description and project URL");
        check(
            repository?.Attribute("type")?.Value == "git"
            && repository.Attribute("url")?.Value.StartsWith("https://", StringComparison.Ordinal) == true
            && (commit is null || repository.Attribute("commit")?.Value == commit),
            $"{id}: repository type/url{(commit is null ? "" : " and commit")} ({repository?.ToString(SaveOptions.DisableFormatting)})");
        check(
            package.GetEntry($"lib/net10.0/{id}.dll") is not null && package.GetEntry($"lib/net10.0/{id}.xml") is not null,
            $"{id}: lib/net10.0 has the DLL and its XML docs");
        if (id == "SpanBuffer")
        {
            var models = metadata.Descendants(ns + "dependency").FirstOrDefault(d => d.Attribute("id")?.Value == "SpanBuffer.Models");
            check(models?.Attribute("version")?.Value == version, $"{id}: depends on SpanBuffer.Models {version}");
        }

        var dllEntry = package.GetEntry($"lib/net10.0/{id}.dll");
        var pdbEntry = symbols.GetEntry($"lib/net10.0/{id}.pdb");
        check(pdbEntry is not null, $"{id}: snupkg has lib/net10.0/{id}.pdb");
        if (dllEntry is null || pdbEntry is null)
        {
            return;
        }

        using var pe = new PEReader(new MemoryStream(ReadAll(dllEntry)));
        var debugDirectory = pe.ReadDebugDirectory();
        var codeView = debugDirectory.FirstOrDefault(e => e.Type == DebugDirectoryEntryType.CodeView);
        check(debugDirectory.Any(e => e.Type == DebugDirectoryEntryType.Reproducible), $"{id}: DLL built deterministically (Reproducible debug entry)");

        using var pdbProvider = MetadataReaderProvider.FromPortablePdbStream(new MemoryStream(ReadAll(pdbEntry)));
        var pdb = pdbProvider.GetMetadataReader();
        var pdbGuid = new Guid(pdb.DebugMetadataHeader!.Id.AsSpan(0, 16));
        check(
            codeView.Type == DebugDirectoryEntryType.CodeView && pe.ReadCodeViewDebugDirectoryData(codeView).Guid == pdbGuid,
            $"{id}: the snupkg PDB matches the DLL (id {pdbGuid:N})");

        string? sourceLink = null;
        foreach (var handle in pdb.GetCustomDebugInformation(EntityHandle.ModuleDefinition))
        {
            var info = pdb.GetCustomDebugInformation(handle);
            if (pdb.GetGuid(info.Kind) == s_sourceLinkKind)
            {
                sourceLink = System.Text.Encoding.UTF8.GetString(pdb.GetBlobBytes(info.Value));
            }
        }

        Console.WriteLine($"  {id}.pdb Source Link: {sourceLink ?? "(none)"}");
        var map = new List<(string Prefix, string Url)>();
        if (sourceLink is not null)
        {
            using var json = JsonDocument.Parse(sourceLink);
            foreach (var document in json.RootElement.GetProperty("documents").EnumerateObject())
            {
                map.Add((document.Name.TrimEnd('*'), document.Value.GetString()!));
            }
        }

        check(
            map.Count > 0 && map.All(m => m.Url.StartsWith("https://raw.githubusercontent.com/", StringComparison.Ordinal)
                && m.Url.EndsWith("/*", StringComparison.Ordinal)
                && (commit is null || m.Url.Contains("/" + commit + "/", StringComparison.Ordinal))),
            $"{id}: Source Link maps the sources to the repository{(commit is null ? "" : " at the commit")}");

        int linked = 0, embedded = 0, neither = 0, unmapped = 0;
        foreach (var handle in pdb.Documents)
        {
            var name = pdb.GetString(pdb.GetDocument(handle).Name);
            if (!name.StartsWith("/_", StringComparison.Ordinal))
            {
                unmapped++;
            }

            // Generated sources (obj/ or outside the clone) are not in the repository: they must be embedded.
            var generated = name.Contains("/obj/", StringComparison.Ordinal) || !name.StartsWith("/_/", StringComparison.Ordinal);
            if (pdb.GetCustomDebugInformation(handle).Any(h => pdb.GetGuid(pdb.GetCustomDebugInformation(h).Kind) == s_embeddedSourceKind))
            {
                embedded++;
            }
            else if (!generated && map.Any(m => name.StartsWith(m.Prefix, StringComparison.Ordinal)))
            {
                linked++;
            }
            else
            {
                neither++;
                Console.WriteLine($"  {id}.pdb document neither embedded nor fetchable through Source Link: {name}");
            }
        }

        check(linked > 0 && neither == 0, $"{id}: every PDB document is linked ({linked}) or embedded ({embedded})");
        check(unmapped == 0, $"{id}: PDB document paths are deterministic (/_/...; {unmapped} not)");
    }

    private static byte[] ReadAll(ZipArchiveEntry entry)
    {
        using var stream = entry.Open();
        using var buffer = new MemoryStream();
        stream.CopyTo(buffer);
        return buffer.ToArray();
    }
}
