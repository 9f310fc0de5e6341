CREATE TABLE `privacy_settings` (
	`account_id` text PRIMARY KEY NOT NULL,
	`last_seen` text NOT NULL,
	`online` text NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`account_id`) REFERENCES `accounts`(`id`) ON UPDATE no action ON DELETE cascade
);
