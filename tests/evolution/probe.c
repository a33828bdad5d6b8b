/*
 * probe.c: what the real Evolution (3.46) configures for an address.
 *
 * Usage: probe ADDRESS [USE-DOMAIN]
 *
 * Runs Evolution's own code, as its account assistant's lookup module
 * (module-config-lookup) does: e_mail_autoconfig_new_sync() from Evolution's
 * mail library fetches and parses config-v1.1.xml (https://autoconfig.<d>,
 * http://autoconfig.<d>, the .well-known URLs, then Thunderbird's ISPDB),
 * e_mail_autoconfig_copy_results_to_config_lookup() turns what it kept into
 * EConfigLookup results, and each result configures a scratch ESource as it
 * would configure the new account's. The probe prints, one key=value a line,
 * what that source's CamelNetworkSettings then hold:
 *
 *   status=found                 Evolution accepted an answer
 *   status=error, error=<text>   Evolution found no configuration at all
 *   imap.results=1               how many IMAP results the assistant offers (0: none)
 *   imap.backend=imapx           Camel provider
 *   imap.host=mail.example.net
 *   imap.port=993
 *   imap.security=ssl-on-alternate-port   CamelNetworkSecurityMethod nick
 *   imap.user=fred@example.org
 *   imap.auth=                   auth mechanism; empty means IMAP LOGIN / POP3 USER+PASS
 *   imap.description=Host: ...   what the assistant shows, line breaks as "; "
 *   the same for pop3 (backend "pop") and smtp.
 *
 * Exit status 0 whenever a result was printed (found or not); 1 when the
 * probe itself could not run (bad arguments, no source registry).
 *
 * It needs a D-Bus session bus on which org.gnome.evolution.dataserver.Sources5
 * (evolution-source-registry) can be activated: run it under dbus-run-session
 * with HOME and the XDG_* folders in a scratch folder. See README.md beside it.
 */

#include <stdio.h>

#include <camel/camel.h>
#include <libedataserver/libedataserver.h>
#include <e-util/e-util.h>
#include <mail/e-mail-autoconfig.h>

static const gchar *
enum_nick (GType type, gint value)
{
	GEnumClass *klass = g_type_class_ref (type);
	GEnumValue *found = g_enum_get_value (klass, value);
	const gchar *nick = found ? found->value_nick : "unknown";

	g_type_class_unref (klass);
	return nick;
}

/* One line per value: line breaks inside a value (the assistant's
 * multi-line description) become "; ". */
static void
print_value (const gchar *protocol, const gchar *key, const gchar *value)
{
	gchar **lines = g_strsplit_set (value ? value : "", "\r\n", -1);
	gchar *joined = g_strjoinv ("; ", lines);

	printf ("%s.%s=%s\n", protocol, key, joined);
	g_free (joined);
	g_strfreev (lines);
}

/* What the account assistant does with a lookup result of one protocol:
 * configure_source() on the account's (here: a scratch) source, whose
 * CamelNetworkSettings then hold what Evolution would connect to. */
static gboolean
report (EConfigLookup *config_lookup, const gchar *name, EConfigLookupResultKind kind, const gchar *protocol,
	const gchar *extension_name)
{
	GError *error = NULL;
	GSList *results;
	EConfigLookupResult *result;
	ESource *source;
	ESourceBackend *backend_ext;
	ESourceCamel *camel_ext;
	CamelSettings *settings;
	gchar *host = NULL, *user = NULL, *auth = NULL;
	guint port = 0;
	CamelNetworkSecurityMethod security = CAMEL_NETWORK_SECURITY_METHOD_NONE;
	const gchar *backend_name;
	gboolean ok = FALSE;

	results = e_config_lookup_dup_results (config_lookup, kind, protocol);
	printf ("%s.results=%u\n", name, g_slist_length (results));
	if (results == NULL)
		return TRUE;
	result = results->data; /* sorted by priority: what the assistant offers first */

	source = e_source_new (NULL, NULL, &error);
	if (source == NULL) {
		fprintf (stderr, "probe: e_source_new: %s\n", error->message);
		g_clear_error (&error);
		goto out;
	}
	/* e_source_get_extension() adds the extension: Evolution fills only a
	 * source that carries the mail account / mail transport extension. */
	backend_ext = e_source_get_extension (source, extension_name);
	if (!e_config_lookup_result_configure_source (result, config_lookup, source)) {
		fprintf (stderr, "probe: %s: configure_source failed\n", name);
		goto out;
	}

	backend_name = e_source_backend_get_backend_name (backend_ext);
	camel_ext = e_source_get_extension (source, e_source_camel_get_extension_name (backend_name));
	settings = e_source_camel_get_settings (camel_ext);
	if (!CAMEL_IS_NETWORK_SETTINGS (settings)) {
		fprintf (stderr, "probe: %s settings are not network settings\n", name);
		goto out;
	}
	g_object_get (
		settings,
		"host", &host,
		"port", &port,
		"user", &user,
		"auth-mechanism", &auth,
		"security-method", &security,
		NULL);

	print_value (name, "backend", backend_name);
	print_value (name, "host", host);
	printf ("%s.port=%u\n", name, port);
	print_value (name, "security", enum_nick (CAMEL_TYPE_NETWORK_SECURITY_METHOD, security));
	print_value (name, "user", user);
	print_value (name, "auth", auth);
	print_value (name, "description", e_config_lookup_result_get_description (result));
	ok = TRUE;

out:
	g_free (host);
	g_free (user);
	g_free (auth);
	g_clear_object (&source);
	g_slist_free_full (results, g_object_unref);
	return ok;
}

int
main (int argc, char **argv)
{
	GError *error = NULL;
	ESourceRegistry *registry;
	EMailAutoconfig *autoconfig;
	EConfigLookup *config_lookup;
	const gchar *use_domain;
	gboolean ok;

	if (argc < 2 || argc > 3) {
		fprintf (stderr, "usage: %s ADDRESS [USE-DOMAIN]\n", argv[0]);
		return 1;
	}
	use_domain = argc == 3 ? argv[2] : NULL;

	/* One ESourceCamel subtype per installed Camel provider ("imapx",
	 * "pop", "smtp"): configure_source() stores the settings in them. */
	e_source_camel_register_types ();

	registry = e_source_registry_new_sync (NULL, &error);
	if (registry == NULL) {
		fprintf (stderr, "probe: no source registry: %s\n", error->message);
		g_clear_error (&error);
		return 1;
	}

	autoconfig = e_mail_autoconfig_new_sync (registry, argv[1], use_domain, NULL, &error);
	if (autoconfig == NULL) {
		gchar *message = g_strdup (error ? error->message : "unknown error");

		g_strdelimit (message, "\r\n", ' ');
		printf ("status=error\nerror=%s\n", message);
		g_free (message);
		g_clear_error (&error);
		g_object_unref (registry);
		return 0;
	}

	/* The account assistant's lookup worker (module-config-lookup) hands
	 * the results to an EConfigLookup in just this way. */
	config_lookup = e_config_lookup_new (registry);
	e_mail_autoconfig_copy_results_to_config_lookup (autoconfig, config_lookup);

	printf ("status=found\n");
	ok = report (config_lookup, "imap", E_CONFIG_LOOKUP_RESULT_MAIL_RECEIVE, "imapx", E_SOURCE_EXTENSION_MAIL_ACCOUNT)
		&& report (config_lookup, "pop3", E_CONFIG_LOOKUP_RESULT_MAIL_RECEIVE, "pop", E_SOURCE_EXTENSION_MAIL_ACCOUNT)
		&& report (config_lookup, "smtp", E_CONFIG_LOOKUP_RESULT_MAIL_SEND, "smtp", E_SOURCE_EXTENSION_MAIL_TRANSPORT);

	g_object_unref (config_lookup);
	g_object_unref (autoconfig);
	g_object_unref (registry);
	return ok ? 0 : 1;
}
